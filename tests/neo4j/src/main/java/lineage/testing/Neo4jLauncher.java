package lineage.testing;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;
import org.neo4j.io.fs.FileUtils;

/**
 * Starts an ephemeral Neo4j with Bolt on 127.0.0.1 and prints its URL on stdout.
 *
 * <p>Usage: {@code Neo4jLauncher [port] [url-file]}. Port 0 (the default) picks a free port.
 * The database lives in a temporary folder that is deleted on exit. Authentication is off:
 * the server listens on loopback only and exists for tests. The process runs until it is
 * killed (SIGTERM shuts the database down cleanly).
 */
public final class Neo4jLauncher {
    private Neo4jLauncher() {}

    public static void main(String[] args) throws Exception {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
        if (port == 0) {
            port = freePort();
        }
        Path home = Files.createTempDirectory("lineage-neo4j-");
        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home);
        // plugins (lineage's walk procedure, start.sh puts its jar there) load from this
        // folder as a real server loads its plugins/ folder
        String plugins = System.getProperty("lineage.neo4j.plugins", "");
        if (!plugins.isEmpty()) {
            builder.setConfig(GraphDatabaseSettings.plugin_dir, Path.of(plugins).toAbsolutePath());
        }
        DatabaseManagementService service = builder
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                // the page cache holds the store files: 1 GiB keeps a 10^6-node lineage graph
                // (~1.6 million relationships' records and the key indexes) in memory; set it
                // with -Dlineage.neo4j.pagecache=SIZE, e.g. 2g (start.sh: LINEAGE_NEO4J_PAGECACHE)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pageCacheBytes())
                .setConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofMinutes(10))
                .build();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.shutdown();
            try {
                FileUtils.deleteDirectory(home);
            } catch (IOException e) {
                System.err.println("could not delete " + home + ": " + e);
            }
        }));
        // a query proves the default database is up before the URL is announced
        service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
        String url = "bolt://127.0.0.1:" + port;
        if (args.length > 1) {
            Path tmp = Path.of(args[1] + ".tmp");
            Files.writeString(tmp, url + "\n");
            Files.move(tmp, Path.of(args[1]), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
        System.out.println(url);
        System.out.flush();
        Thread.currentThread().join();
    }

    private static long pageCacheBytes() {
        String given = System.getProperty("lineage.neo4j.pagecache", "");
        return given.isEmpty() ? ByteUnit.gibiBytes(1) : ByteUnit.parse(given);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
