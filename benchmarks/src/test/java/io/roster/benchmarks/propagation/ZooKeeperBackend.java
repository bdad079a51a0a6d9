package io.roster.benchmarks.propagation;

import io.roster.ServiceInstance;
import io.roster.spi.InstanceJson;
import io.roster.testkit.FreePorts;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Version;
import org.apache.zookeeper.data.Stat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * ZooKeeper: curator-test's {@code TestingServer} (a real standalone ZooKeeper) in a {@link ServerProcess}, data in
 * {@code /dev/shm}. The raw client is Curator, which Roster's ZooKeeper backend is built on: ephemeral
 * {@code create}, {@code delete}, and a {@code CuratorCache} (a persistent recursive watch that reads each node) on
 * the service node. Server counters come from the four-letter word {@code mntr}.
 */
final class ZooKeeperBackend implements Backend {
    /** Roster's default session timeout; the raw client's sessions have the same. */
    private static final int SESSION_MS = 15_000;
    private static final String ROOT = "/microservices/";

    private ServerProcess server;
    private Cleanup cleanup;
    private int port;
    /** mntr calls so far: the server counts each as a packet received, which the figures leave out. */
    private long mntrCalls;

    @Override
    public String name() {
        return "zookeeper";
    }

    @Override
    public String label() {
        return "ZooKeeper";
    }

    @Override
    public String server() {
        return "ZooKeeper " + Version.getFullVersion().replaceAll("[-,].*", "") + " standalone (curator-test "
                + "TestingServer in its own JVM), data in /dev/shm";
    }

    @Override
    public String raw() {
        return "Curator create (ephemeral) / delete → CuratorCache event";
    }

    @Override
    public void start(Cleanup cleanup) throws IOException, InterruptedException {
        this.cleanup = cleanup;
        port = FreePorts.next();
        server = cleanup.add(ServerProcess.start("zookeeper", port));
    }

    @Override
    public String rosterUri() {
        return "zookeeper://127.0.0.1:" + port;
    }

    private CuratorFramework curator() throws InterruptedException, TimeoutException {
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString("127.0.0.1:" + port)
                .sessionTimeoutMs(SESSION_MS)
                .connectionTimeoutMs(5_000)
                .retryPolicy(new ExponentialBackoffRetry(100, 10))
                .build();
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) {
            client.close();
            throw new TimeoutException("ZooKeeper at 127.0.0.1:" + port + " not connected within 30 s");
        }
        return client;
    }

    private static String path(ServiceInstance instance) {
        return ROOT + instance.name() + "/" + instance.id();
    }

    private static byte[] data(ServiceInstance instance) {
        return InstanceJson.encode(instance).getBytes(StandardCharsets.UTF_8);
    }

    private static void ensureServiceNode(CuratorFramework client, String service) throws Exception {
        try {
            client.create().creatingParentsIfNeeded().forPath(ROOT + service);
        } catch (KeeperException.NodeExistsException e) {
            // there already
        }
    }

    @Override
    public Side rawSide(String service) throws Exception {
        return new RawSide(service);
    }

    @Override
    public AutoCloseable preload(List<ServiceInstance> instances) throws Exception {
        CuratorFramework loader = curator();
        try {
            if (!instances.isEmpty()) {
                ensureServiceNode(loader, instances.get(0).name());
            }
            // Multi-requests of 500 creates (~120 kB), well under the server's 1 MiB jute.maxbuffer.
            for (int from = 0; from < instances.size(); from += 500) {
                List<CuratorOp> creates = new ArrayList<>();
                for (ServiceInstance i : instances.subList(from, Math.min(instances.size(), from + 500))) {
                    creates.add(loader.transactionOp().create().withMode(CreateMode.EPHEMERAL).forPath(path(i),
                            data(i)));
                }
                loader.transaction().forOperations(creates);
            }
        } catch (Exception | Error e) {
            loader.close();
            throw e;
        }
        return loader::close; // the session's end deletes its ephemeral nodes
    }

    @Override
    public FirstList.Probe firstListProbe(String service) throws Exception {
        CuratorFramework client = curator();
        return new FirstList.Probe() {
            private CuratorCache cache;

            @Override
            public int load() throws Exception {
                CountDownLatch initialized = new CountDownLatch(1);
                cache = CuratorCache.build(client, ROOT + service);
                cache.listenable().addListener(CuratorCacheListener.builder()
                        .forInitialized(initialized::countDown).build());
                cache.start();
                if (!initialized.await(5, TimeUnit.MINUTES)) {
                    throw new TimeoutException("CuratorCache not initialized within 5 minutes");
                }
                return cache.size() - 1; // the service node itself is in the cache too
            }

            @Override
            public void forget() {
                if (cache != null) {
                    cache.close();
                    cache = null;
                }
            }

            @Override
            public void close() {
                forget();
                client.close();
            }
        };
    }

    @Override
    public Load load() throws IOException {
        Map<String, Long> mntr = mntr();
        return new Load(mntr.getOrDefault("zk_packets_received", -1L) - mntrCalls, "packets received",
                Map.of("watches", mntr.getOrDefault("zk_watch_count", -1L)));
    }

    /** The sessions that own the service's nodes (each node's {@code ephemeralOwner}). */
    @Override
    public Map<String, Long> held(String service) throws Exception {
        CuratorFramework client = curator();
        try {
            Set<Long> owners = new HashSet<>();
            for (String child : client.getChildren().forPath(ROOT + service)) {
                Stat stat = client.checkExists().forPath(ROOT + service + "/" + child);
                if (stat != null) {
                    owners.add(stat.getEphemeralOwner());
                }
            }
            return Map.of("sessions", (long) owners.size());
        } finally {
            client.close();
        }
    }

    /** The four-letter word {@code mntr}: one line per counter, name and value separated by a tab. */
    private Map<String, Long> mntr() throws IOException {
        mntrCalls++;
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write("mntr".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            Map<String, Long> values = new HashMap<>();
            text.lines().map(l -> l.split("\t")).filter(f -> f.length == 2).forEach(f -> {
                try {
                    values.put(f[0], (long) Double.parseDouble(f[1].trim()));
                } catch (NumberFormatException e) {
                    // a text value (version, server state)
                }
            });
            if (values.isEmpty()) {
                throw new IOException("mntr answered nothing usable: " + text);
            }
            return values;
        }
    }

    @Override
    public AutoCloseable rawKeepalive(List<ServiceInstance> instances) throws Exception {
        CuratorFramework client = curator();
        try {
            ensureServiceNode(client, instances.get(0).name());
            for (ServiceInstance i : instances) {
                client.create().withMode(CreateMode.EPHEMERAL).forPath(path(i), data(i));
            }
        } catch (Exception | Error e) {
            client.close();
            throw e;
        }
        return client::close;
    }

    @Override
    public String keepaliveSettings() {
        return "Roster's default (one session, timeout 15 s); raw: one Curator session of 15 s";
    }

    @Override
    public void close() {
        if (server != null) {
            cleanup.closed(server);
        }
    }

    /** One Curator client creates and deletes; another follows the service with a CuratorCache. */
    private final class RawSide implements Side {
        private final CuratorFramework writer;
        private final CuratorFramework reader;
        private final CuratorCache cache;
        private final IdsObserver observer = new IdsObserver();
        private final String servicePath;

        RawSide(String service) throws Exception {
            servicePath = ROOT + service;
            writer = curator();
            try {
                ensureServiceNode(writer, service);
                reader = curator();
            } catch (Exception | Error e) {
                writer.close();
                throw e;
            }
            cache = CuratorCache.build(reader, servicePath);
            CountDownLatch initialized = new CountDownLatch(1);
            cache.listenable().addListener(CuratorCacheListener.builder()
                    .forCreates(d -> on(d, true))
                    .forDeletes(d -> on(d, false))
                    .forInitialized(initialized::countDown)
                    .build());
            cache.start();
            if (!initialized.await(5, TimeUnit.MINUTES)) {
                close();
                throw new TimeoutException("CuratorCache not initialized within 5 minutes");
            }
        }

        private void on(ChildData node, boolean created) {
            long at = System.nanoTime();
            String path = node.getPath();
            if (path.length() <= servicePath.length()) {
                return; // the service node itself
            }
            String id = path.substring(servicePath.length() + 1);
            if (created) {
                observer.add(id);
            } else {
                observer.remove(id);
            }
            observer.changed(at);
        }

        @Override
        public void register(ServiceInstance instance) throws Exception {
            writer.create().withMode(CreateMode.EPHEMERAL).forPath(path(instance), data(instance));
        }

        @Override
        public void deregister(ServiceInstance instance) throws Exception {
            writer.delete().forPath(path(instance));
        }

        @Override
        public Observer observer() {
            return observer;
        }

        @Override
        public void close() {
            cache.close();
            reader.close();
            writer.close();
        }
    }
}
