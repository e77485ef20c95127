/*
 * Licensed under the Apache License, Version 2.0: http://www.apache.org/licenses/LICENSE-2.0
 *
 * Stands in for Apache Hive 2.3.9's class of the same name (hive-common; 2.3.10 in Spark 4.0), whose public methods and
 * behaviour it keeps, with one change: getServerSocket binds 127.0.0.1, not every interface, when
 * no host is given. Hive 2.3's metastore has no bind-host setting and always passes none, so this
 * class, put ahead of pyspark's jars on the local metastore's classpath only (etl/dev/metastore.py),
 * keeps that service off the network. Built by `make setup` into .cache/jars/etl-hms-loopback.jar.
 */
package org.apache.hadoop.hive.common.auth;

import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;

import org.apache.thrift.transport.TSSLTransportFactory;
import org.apache.thrift.transport.TSSLTransportFactory.TSSLTransportParameters;
import org.apache.thrift.transport.TServerSocket;
import org.apache.thrift.transport.TSocket;
import org.apache.thrift.transport.TTransport;
import org.apache.thrift.transport.TTransportException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public class HiveAuthUtils {
  private static final Logger LOG = LoggerFactory.getLogger(HiveAuthUtils.class);
  private static final String LOOPBACK = "127.0.0.1"; // a literal: no name lookup

  // Thrift 0.16 (Hive 2.3.10) declares the exception, 0.12 (2.3.9) does not; declaring it fits both.
  public static TTransport getSocketTransport(String host, int port, int loginTimeout) throws TTransportException {
    return new TSocket(host, port, loginTimeout);
  }

  public static TTransport getSSLSocket(String host, int port, int loginTimeout) throws TTransportException {
    return withHostnameVerification(TSSLTransportFactory.getClientSocket(host, port, loginTimeout));
  }

  public static TTransport getSSLSocket(String host, int port, int loginTimeout, String trustStorePath, String trustStorePassword)
      throws TTransportException {
    TSSLTransportParameters params = new TSSLTransportParameters();
    params.setTrustStore(trustStorePath, trustStorePassword);
    params.requireClientAuth(true);
    return withHostnameVerification(TSSLTransportFactory.getClientSocket(host, port, loginTimeout, params));
  }

  public static TServerSocket getServerSocket(String host, int port) throws TTransportException {
    return new TServerSocket(bindAddress(host, port));
  }

  public static TServerSocket getServerSSLSocket(String host, int port, String keyStorePath, String keyStorePassword,
      List<String> sslVersionBlacklist) throws TTransportException, UnknownHostException {
    TSSLTransportParameters params = new TSSLTransportParameters();
    params.setKeyStore(keyStorePath, keyStorePassword);
    TServerSocket server = TSSLTransportFactory.getServerSocket(port, 0, bindAddress(host, port).getAddress(), params);
    if (server.getServerSocket() instanceof SSLServerSocket) {
      disableProtocols((SSLServerSocket) server.getServerSocket(), sslVersionBlacklist);
    }
    return server;
  }

  /** The one change from Hive: no host means 127.0.0.1 (what the clients are given), not the wildcard. */
  private static InetSocketAddress bindAddress(String host, int port) {
    if (host == null || host.isEmpty()) {
      return new InetSocketAddress(LOOPBACK, port);
    }
    return new InetSocketAddress(host, port);
  }

  // Endpoint identification "HTTPS" makes the client check the server's certificate names (CN / subjectAltName).
  private static TSocket withHostnameVerification(TSocket socket) throws TTransportException {
    SSLSocket ssl = (SSLSocket) socket.getSocket();
    SSLParameters params = ssl.getSSLParameters();
    params.setEndpointIdentificationAlgorithm("HTTPS");
    ssl.setSSLParameters(params);
    return new TSocket(ssl);
  }

  private static void disableProtocols(SSLServerSocket socket, List<String> blacklist) {
    List<String> banned = new ArrayList<String>();
    for (String protocol : blacklist) {
      banned.add(protocol.trim().toLowerCase(Locale.ROOT));
    }
    List<String> enabled = new ArrayList<String>();
    for (String protocol : socket.getEnabledProtocols()) {
      if (banned.contains(protocol.toLowerCase(Locale.ROOT))) {
        LOG.debug("Disabling SSL Protocol: " + protocol);
      } else {
        enabled.add(protocol);
      }
    }
    socket.setEnabledProtocols(enabled.toArray(new String[0]));
    LOG.info("SSL Server Socket Enabled Protocols: " + Arrays.toString(socket.getEnabledProtocols()));
  }
}
