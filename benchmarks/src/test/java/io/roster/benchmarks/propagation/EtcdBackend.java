package io.roster.benchmarks.propagation;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.lease.LeaseKeepAliveResponse;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.support.CloseableClient;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import io.grpc.stub.StreamObserver;
import io.roster.ServiceInstance;
import io.roster.spi.InstanceJson;
import io.roster.testkit.EtcdServer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * etcd from Debian's {@code etcd-server} ({@link EtcdServer}: data in {@code /dev/shm}), one member or a cluster.
 * The raw client is jetcd, the client Roster's etcd backend is built on, used as its documentation shows: a put on
 * a lease kept alive by jetcd's {@code keepAlive}, a delete, and a prefix watch from the revision of a first read.
 */
final class EtcdBackend implements Backend {
    /** Roster's default TTL; the raw client's lease has the same. */
    private static final long TTL_SECONDS = 15;
    private static final String NAMESPACE = "/microservices/";

    private final int members;
    private List<EtcdServer> servers;
    private Cleanup cleanup;
    private String version = "etcd";

    EtcdBackend(int members) {
        this.members = members;
    }

    @Override
    public String name() {
        return members == 1 ? "etcd" : "etcd-cluster";
    }

    @Override
    public String label() {
        return members == 1 ? "etcd" : "etcd (" + members + " members)";
    }

    @Override
    public String server() {
        return version + (members == 1 ? ", one member" : ", " + members + " members") + ", data in /dev/shm";
    }

    @Override
    public String raw() {
        return "jetcd put on a lease / delete → prefix watch event";
    }

    @Override
    public void start(Cleanup cleanup) throws IOException, InterruptedException {
        this.cleanup = cleanup;
        version = etcdVersion();
        List<EtcdServer> started = members == 1 ? List.of(EtcdServer.start()) : EtcdServer.cluster(members, false);
        started.forEach(cleanup::add);
        servers = started;
    }

    private static String etcdVersion() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("etcd", "--version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(10, TimeUnit.SECONDS);
        return out.lines().findFirst().orElse("etcd").replace("etcd Version:", "etcd").trim();
    }

    private String endpoints() {
        return servers.stream().map(EtcdServer::endpoint).collect(Collectors.joining(","));
    }

    @Override
    public String rosterUri() {
        return "etcd://" + endpoints();
    }

    private Client client() {
        return Client.builder().endpoints(servers.stream().map(EtcdServer::url).toArray(String[]::new)).build();
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    private static ByteSequence key(ServiceInstance instance) {
        return bytes(NAMESPACE + instance.name() + "/" + instance.id());
    }

    private static ByteSequence value(ServiceInstance instance) {
        return bytes(InstanceJson.encode(instance));
    }

    @Override
    public Side rawSide(String service) throws Exception {
        return new RawSide(service);
    }

    @Override
    public AutoCloseable preload(List<ServiceInstance> instances) throws Exception {
        Client loader = client();
        try {
            long lease = loader.getLeaseClient().grant(3600).get(30, TimeUnit.SECONDS).getID();
            PutOption onLease = PutOption.builder().withLeaseId(lease).build();
            for (int from = 0; from < instances.size(); from += 100) {
                Op[] puts = instances.subList(from, Math.min(instances.size(), from + 100)).stream()
                        .map(i -> Op.put(key(i), value(i), onLease)).toArray(Op[]::new);
                loader.getKVClient().txn().Then(puts).commit().get(30, TimeUnit.SECONDS);
            }
            return revoking(loader, lease, null);
        } catch (Exception | Error e) {
            loader.close();
            throw e;
        }
    }

    /** Stops renewing the lease (when kept alive), revokes it, which deletes its keys, and closes the client. */
    private static AutoCloseable revoking(Client client, long lease, CloseableClient keepAlive) {
        return () -> {
            try {
                if (keepAlive != null) {
                    keepAlive.close();
                }
                client.getLeaseClient().revoke(lease).get(30, TimeUnit.SECONDS);
            } finally {
                client.close();
            }
        };
    }

    @Override
    public Load load() {
        long messages = servers.stream().mapToLong(s -> s.metric("grpc_server_msg_received_total")).sum();
        return new Load(messages, "gRPC messages received", Map.of());
    }

    @Override
    public Map<String, Long> held(String service) throws Exception {
        try (Client client = client()) {
            GetResponse keys = client.getKVClient().get(bytes(NAMESPACE + service + "/"),
                    GetOption.builder().isPrefix(true).withKeysOnly(true).build()).get(30, TimeUnit.SECONDS);
            return Map.of("leases", keys.getKvs().stream().mapToLong(KeyValue::getLease).distinct().count());
        }
    }

    @Override
    public AutoCloseable rawKeepalive(List<ServiceInstance> instances) throws Exception {
        Client client = client();
        try {
            long lease = client.getLeaseClient().grant(TTL_SECONDS).get(30, TimeUnit.SECONDS).getID();
            CloseableClient keepAlive = client.getLeaseClient().keepAlive(lease, ignoring());
            PutOption onLease = PutOption.builder().withLeaseId(lease).build();
            for (ServiceInstance i : instances) {
                client.getKVClient().put(key(i), value(i), onLease).get(30, TimeUnit.SECONDS);
            }
            return revoking(client, lease, keepAlive);
        } catch (Exception | Error e) {
            client.close();
            throw e;
        }
    }

    @Override
    public String keepaliveSettings() {
        return "Roster's default (one lease, TTL 15 s, renewed every TTL/3); raw: one lease of 15 s kept alive by "
                + "jetcd's keepAlive";
    }

    private static StreamObserver<LeaseKeepAliveResponse> ignoring() {
        return new StreamObserver<>() {
            @Override
            public void onNext(LeaseKeepAliveResponse value) {
            }

            @Override
            public void onError(Throwable t) {
                System.err.println("raw etcd keepalive failed: " + t);
            }

            @Override
            public void onCompleted() {
            }
        };
    }

    @Override
    public void close() {
        if (servers != null) {
            servers.forEach(cleanup::closed);
        }
    }

    /** One jetcd client writes on its lease; another reads the prefix once and then watches it. */
    private final class RawSide implements Side {
        private final Client writer = client();
        private final Client reader = client();
        private final IdsObserver observer = new IdsObserver();
        private final String prefix;
        private final long lease;
        private final CloseableClient keepAlive;
        private final Watch.Watcher watch;

        RawSide(String service) throws Exception {
            prefix = NAMESPACE + service + "/";
            try {
                lease = writer.getLeaseClient().grant(TTL_SECONDS).get(30, TimeUnit.SECONDS).getID();
                keepAlive = writer.getLeaseClient().keepAlive(lease, ignoring());
                GetResponse first = reader.getKVClient().get(bytes(prefix),
                        GetOption.builder().isPrefix(true).withKeysOnly(true).build()).get(30, TimeUnit.SECONDS);
                for (KeyValue kv : first.getKvs()) {
                    observer.add(id(kv));
                }
                watch = reader.getWatchClient().watch(bytes(prefix), WatchOption.builder().isPrefix(true)
                        .withRevision(first.getHeader().getRevision() + 1).build(),
                        Watch.listener(this::onEvents, t -> System.err.println("raw etcd watch failed: " + t)));
            } catch (Exception | Error e) {
                writer.close();
                reader.close();
                throw e;
            }
        }

        private String id(KeyValue kv) {
            return kv.getKey().toString(StandardCharsets.UTF_8).substring(prefix.length());
        }

        private void onEvents(WatchResponse response) {
            long at = System.nanoTime();
            for (WatchEvent e : response.getEvents()) {
                if (e.getEventType() == WatchEvent.EventType.PUT) {
                    observer.add(id(e.getKeyValue()));
                } else if (e.getEventType() == WatchEvent.EventType.DELETE) {
                    observer.remove(id(e.getKeyValue()));
                }
            }
            observer.changed(at);
        }

        @Override
        public void register(ServiceInstance instance) throws Exception {
            writer.getKVClient().put(key(instance), value(instance), PutOption.builder().withLeaseId(lease).build())
                    .get(30, TimeUnit.SECONDS);
        }

        @Override
        public void deregister(ServiceInstance instance) throws Exception {
            writer.getKVClient().delete(key(instance)).get(30, TimeUnit.SECONDS);
        }

        @Override
        public Observer observer() {
            return observer;
        }

        @Override
        public void close() {
            watch.close();
            keepAlive.close();
            try {
                writer.getLeaseClient().revoke(lease).get(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                System.err.println("raw etcd: revoking the lease failed (it expires by itself): " + e);
            } finally {
                writer.close();
                reader.close();
            }
        }
    }
}
