package etl.hive;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.catalyst.catalog.CatalogStorageFormat;
import org.apache.spark.sql.catalyst.catalog.CatalogTablePartition;
import scala.Some;

/**
 * A table's partitions as the session catalog lists them, read and relocated in bulk.
 *
 * <p>etl/spark_internals/session_catalog.py does the same through py4j, where every call on every partition is a round trip
 * (about 15 to relocate one): seconds for the thousands of daily partitions of a backfill. Here one
 * call handles them all, and the data crosses as JSON, which needs no round trip per element.
 *
 * <p>Partitions come and go as java.util.List, not Scala collections (2.12 on Spark 3.5, 2.13 on 4.0, whose
 * Seq differ): etl/spark_internals/session_catalog.py converts, so one compiled jar serves both lines.
 */
public final class PartitionBatches {
  private static final ObjectMapper JSON = new ObjectMapper();

  private PartitionBatches() {}

  /** [[value of each column..., location], ...] in the listing's order; a location as Hadoop prints it. */
  public static String locations(List<CatalogTablePartition> partitions, String columnsJson) throws IOException {
    String[] columns = JSON.readValue(columnsJson, String[].class);
    ArrayNode rows = JSON.createArrayNode();
    for (CatalogTablePartition partition : partitions) {
      ArrayNode row = rows.addArray();
      for (String column : columns) {
        row.add(partition.spec().apply(column));
      }
      row.add(new Path(partition.location()).toString());
    }
    return JSON.writeValueAsString(rows);
  }

  /**
   * Copies of partitions of the listing at other locations, for SessionCatalog.alterPartitions.
   *
   * @param movesJson [[index in the listing, new location], ...]
   */
  public static List<CatalogTablePartition> relocated(List<CatalogTablePartition> partitions, String movesJson) throws IOException {
    List<CatalogTablePartition> moved = new ArrayList<>();
    for (JsonNode move : JSON.readTree(movesJson)) {
      CatalogTablePartition partition = partitions.get(move.get(0).asInt());
      CatalogStorageFormat storage = partition.storage();
      // as Spark makes a URI of a LOCATION string
      CatalogStorageFormat at = storage.copy(
          new Some<>(new Path(move.get(1).asText()).toUri()),
          storage.inputFormat(),
          storage.outputFormat(),
          storage.serde(),
          storage.compressed(),
          storage.properties());
      moved.add(partition.copy(
          partition.spec(), at, partition.parameters(), partition.createTime(), partition.lastAccessTime(), partition.stats()));
    }
    return moved;
  }
}
