package etl.hadoop;

import org.apache.hadoop.fs.LocalFileSystem;

/** file:// with checksums, as Hadoop's LocalFileSystem, over NioRawLocalFileSystem. */
public class NioLocalFileSystem extends LocalFileSystem {
  public NioLocalFileSystem() {
    super(new NioRawLocalFileSystem());
  }
}
