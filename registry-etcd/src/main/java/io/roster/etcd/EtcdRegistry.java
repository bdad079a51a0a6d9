package io.roster.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.lease.LeaseKeepAliveResponse;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.LeaseOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.support.CloseableClient;
import io.grpc.stub.StreamObserver;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Backoff;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Durations;
import io.roster.spi.InstanceJson;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * A registry on etcd v3, wire-compatible with Go Kratos: each instance is the key {@code <namespace>/<name>/<id>}
 * holding the instance's JSON, attached to a lease.
 *
 * <pre>{@code
 * try (Registry registry = Registries.open("etcd://10.0.0.1:2379,10.0.0.2:2379/microservices?ttl=15s")) { ... }
 * // or
 * try (Registry registry = EtcdRegistry.builder().endpoints("10.0.0.1:2379").ttl(Duration.ofSeconds(15)).build()) { ... }
 * }</pre>
 *
 * <p><b>Keepalive.</b> All instances of one registry share one lease, granted on the first {@code register} and kept
 * alive by jetcd's KeepAlive stream, so the cost of keeping instances alive does not grow with their number. When
 * the lease is lost for any reason (expired during an outage, keepalive stream failed or completed, etcd restarted
 * or the member died, {@code put} answered "lease not found"), the registry checks it and, if it is gone, grants a
 * new one and puts every live registration again, retrying with backoff until it succeeds, {@code deregister} or
 * {@code close}. {@code deregister} deletes the key; {@code close} revokes the lease, which deletes them all.
 *
 * <p><b>Discovery.</b> {@code getService} reads the prefix {@code <namespace>/<name>/} and keeps the records whose
 * decoded {@code name} is the requested one; a malformed record is logged and skipped. A watch reads the prefix
 * once, then follows a watch from the next revision and applies each event to its list, without reading the
 * prefix again; after a watch failure or compaction it reads the prefix again and resumes from there. Like
 * {@code getService}, opening the first watch of a service fails with a
 * {@link io.roster.RegistryUnavailableException} when etcd cannot be read at that moment.
 *
 * <p>Threads: two daemon threads ({@code roster-etcd-lease-1}, {@code roster-etcd-watch-1}) plus jetcd's own; all
 * end with {@link #close()}, except that a {@link Builder#client(Client) client given by the caller} stays open.
 */
public final class EtcdRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdRegistry.class);
    /** etcd's default limit of operations per transaction is 128. */
    private static final int PUTS_PER_TXN = 100;

    private final EtcdConnection etcd;
    private final String namespace;
    private final long ttlSeconds;
    private final ScheduledExecutorService leaseThread;
    private final ScheduledExecutorService watchThread;
    private final RetryTask recovery;

    // Guarded by registrationLock(). leaseId 0 means no lease yet.
    private long leaseId;
    private CloseableClient keepAlive;
    /** Keys whose state on etcd may differ from the book after a failed put or delete; recovery settles them. */
    private final Set<String> unsettled = new LinkedHashSet<>();

    /** The lease whose keepalive is watched; written under the lock, read by jetcd's callbacks. */
    private volatile long watchedLease;
    private volatile boolean keepAliveBroken;

    private EtcdRegistry(EtcdConnection etcd, String namespace, Duration ttl) {
        super(etcd.description());
        this.etcd = etcd;
        this.namespace = namespace;
        this.ttlSeconds = ttl.toSeconds();
        this.leaseThread = DaemonThreadFactory.scheduler("roster-etcd-lease");
        this.watchThread = DaemonThreadFactory.scheduler("roster-etcd-watch");
        // Retry at about the keepalive cadence, so that instances are back within a TTL of etcd being back.
        Duration maxDelay = clamp(ttl.dividedBy(3), Duration.ofMillis(500), Duration.ofSeconds(5));
        this.recovery = new RetryTask(description() + ": keep the lease and re-register", leaseThread,
                new Backoff(Duration.ofMillis(100), maxDelay), this::recover);
    }

    /**
     * Starts a builder.
     *
     * @return a builder with namespace {@code /microservices}, TTL 15 s and timeout 5 s
     */
    public static Builder builder() {
        return new Builder();
    }

    // ---------------------------------------------------------------------------------------------- registration

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        String key = key(instance);
        if (leaseId == 0) {
            replaceLease(othersThan(key)); // the first registration, or the lease was found gone meanwhile
        }
        try {
            putSettling(key, instance);
        } catch (RegistryException e) {
            if (!EtcdConnection.isLeaseNotFound(e)) {
                throw e;
            }
            LOG.warn("{}: lease {} is gone; granting a new one and registering everything again", description(),
                    Long.toHexString(leaseId));
            replaceLease(othersThan(key));
            putSettling(key, instance);
        }
    }

    /** Puts one registration on the lease; when that fails, recovery later makes etcd match the book. */
    private void putSettling(String key, ServiceInstance instance) {
        try {
            put(key, instance, leaseId);
            unsettled.remove(key);
        } catch (RegistryException e) {
            if (uncertain(e)) {
                unsettled.add(key); // the put may have reached etcd anyway
                recovery.trigger();
            }
            throw e;
        }
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        String key = key(instance);
        try {
            etcd.call("deregister " + instance.name() + "/" + instance.id(),
                    () -> etcd.client().getKVClient().delete(EtcdConnection.bytes(key)));
            unsettled.remove(key);
        } catch (RegistryException e) {
            if (owned) {
                unsettled.add(key); // still on our lease: recovery deletes it once etcd lets it
                recovery.trigger();
            }
            throw e;
        }
    }

    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        if (leaseId == 0) {
            super.deregisterAll(instances);
            return;
        }
        long lease = leaseId;
        try {
            // One request removes every key of this registry, however many.
            etcd.call("revoke lease " + Long.toHexString(lease), () -> etcd.client().getLeaseClient().revoke(lease));
        } catch (RegistryException e) {
            if (!EtcdConnection.isLeaseNotFound(e)) {
                LOG.warn("{}: revoking lease {} on close failed; its {} instance(s) expire within {} s: {}",
                        description(), Long.toHexString(lease), instances.size(), ttlSeconds, e.getMessage());
            }
        }
    }

    /**
     * Grants a new lease, starts its keepalive and puts the given registrations on it. Under the registration
     * lock. On failure, recovery is triggered to finish the job.
     */
    private void replaceLease(Collection<ServiceInstance> instances) {
        stopKeepAlive();
        leaseId = 0;
        List<ServiceInstance> all = new ArrayList<>(instances);
        int done = 0;
        try {
            long lease = etcd.call("grant a lease", () -> etcd.client().getLeaseClient().grant(ttlSeconds)).getID();
            leaseId = lease;
            startKeepAlive();
            for (; done < all.size(); done += PUTS_PER_TXN) {
                putBatch(all.subList(done, Math.min(all.size(), done + PUTS_PER_TXN)), lease);
            }
            if (!all.isEmpty()) {
                LOG.info("{}: registered {} instance(s) again on new lease {}", description(), all.size(),
                        Long.toHexString(lease));
            }
        } catch (RegistryException e) {
            if (leaseId != 0) {
                // The lease is alive: what is left is settled key by key.
                all.subList(done, all.size()).forEach(i -> unsettled.add(key(i)));
            }
            recovery.trigger();
            throw e;
        }
        all.forEach(i -> unsettled.remove(key(i)));
    }

    private void put(String key, ServiceInstance instance, long lease) {
        etcd.call("register " + instance.name() + "/" + instance.id(), () -> etcd.client().getKVClient().put(
                EtcdConnection.bytes(key), EtcdConnection.bytes(InstanceJson.encode(instance)), onLease(lease)));
    }

    private void putBatch(List<ServiceInstance> batch, long lease) {
        Op[] puts = batch.stream()
                .map(i -> Op.put(EtcdConnection.bytes(key(i)), EtcdConnection.bytes(InstanceJson.encode(i)),
                        onLease(lease)))
                .toArray(Op[]::new);
        etcd.call("register " + batch.size() + " instance(s)", () -> etcd.client().getKVClient().txn().Then(puts).commit());
    }

    /** Whether a failed write may still have happened: not when etcd refused it outright. */
    private static boolean uncertain(RegistryException e) {
        return !(e instanceof RegistryAccessDeniedException) && !EtcdConnection.isLeaseNotFound(e);
    }

    private static PutOption onLease(long lease) {
        return PutOption.builder().withLeaseId(lease).build();
    }

    // ---------------------------------------------------------------------------------------------- keepalive

    private void startKeepAlive() {
        long lease = leaseId;
        watchedLease = lease;
        keepAliveBroken = false;
        keepAlive = etcd.client().getLeaseClient().keepAlive(lease, new StreamObserver<LeaseKeepAliveResponse>() {
            @Override
            public void onNext(LeaseKeepAliveResponse response) {
                if (response.getTTL() <= 0) {
                    lost(lease, "etcd answered TTL " + response.getTTL());
                }
            }

            @Override
            public void onError(Throwable t) {
                lost(lease, t.toString());
            }

            @Override
            public void onCompleted() {
                // jetcd completes the stream when no renewal arrived for a whole TTL (jetcd #965, #1383).
                lost(lease, "keepalive stopped without renewal for a TTL");
            }
        });
    }

    private void stopKeepAlive() {
        if (keepAlive != null) {
            keepAlive.close();
            keepAlive = null;
        }
        watchedLease = 0;
    }

    private void lost(long lease, String why) {
        if (isClosed() || lease != watchedLease) {
            return;
        }
        keepAliveBroken = true;
        LOG.warn("{}: keepalive of lease {} interrupted ({}); checking the lease", description(),
                Long.toHexString(lease), why);
        recovery.trigger();
    }

    /**
     * The recovery attempt, run by {@link #recovery} until it succeeds: keep the lease if etcd still has it
     * (restarting its keepalive), otherwise grant a new one and put every registration again; then make every
     * unsettled key match the book.
     */
    private void recover() {
        registrationLock().lock();
        try {
            if (isClosed()) {
                return;
            }
            Map<String, ServiceInstance> book = book();
            if (leaseId != 0 && keepAliveBroken && !leaseAlive(leaseId)) {
                LOG.warn("{}: lease {} is gone; {}", description(), Long.toHexString(leaseId), book.isEmpty()
                        ? "nothing to register again" : "registering " + book.size() + " instance(s) again");
                stopKeepAlive();
                leaseId = 0;
            }
            if (leaseId == 0) {
                if (!book.isEmpty()) {
                    replaceLease(book.values());
                }
            } else if (keepAliveBroken) {
                stopKeepAlive();
                startKeepAlive();
            }
            for (String key : new ArrayList<>(unsettled)) {
                ServiceInstance registered = book.get(key);
                if (registered != null) {
                    put(key, registered, leaseId);
                } else {
                    etcd.call("deregister " + key, () -> etcd.client().getKVClient().delete(EtcdConnection.bytes(key)));
                }
                unsettled.remove(key);
            }
        } catch (RegistryException e) {
            if (EtcdConnection.isLeaseNotFound(e)) {
                keepAliveBroken = true; // the next attempt checks the lease first
            }
            throw e;
        } finally {
            registrationLock().unlock();
        }
    }

    private boolean leaseAlive(long lease) {
        return etcd.call("check lease " + Long.toHexString(lease),
                () -> etcd.client().getLeaseClient().timeToLive(lease, LeaseOption.DEFAULT)).getTTL() > 0;
    }

    // ---------------------------------------------------------------------------------------------- discovery

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        ByteSequence prefix = EtcdConnection.bytes(prefix(name));
        List<KeyValue> kvs = etcd.call("getService " + name, () -> etcd.client().getKVClient()
                .get(prefix, GetOption.builder().isPrefix(true).build())).getKvs();
        List<ServiceInstance> found = new ArrayList<>(kvs.size());
        for (KeyValue kv : kvs) {
            decode(kv, name).ifPresent(found::add);
        }
        return found;
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        EtcdWatcher watcher = new EtcdWatcher(etcd, name, prefix(name), sink, watchThread);
        watcher.start();
        return watcher;
    }

    /**
     * Reads one record: the instance, when the value is valid instance JSON of the requested service.
     *
     * @param kv the record
     * @param name the service read
     * @return the instance, or empty for a malformed record (logged) or another service's
     */
    static Optional<ServiceInstance> decode(KeyValue kv, String name) {
        String key = kv.getKey().toString(StandardCharsets.UTF_8);
        return InstanceJson.decodeOrSkip(kv.getValue().toString(StandardCharsets.UTF_8), "etcd key " + key)
                .filter(instance -> instance.name().equals(name));
    }

    // ---------------------------------------------------------------------------------------------- lifecycle

    @Override
    protected void shutdown() {
        recovery.close();
        registrationLock().lock();
        try {
            stopKeepAlive();
        } finally {
            registrationLock().unlock();
        }
        leaseThread.shutdownNow();
        watchThread.shutdownNow();
        etcd.close();
    }

    /** Stops as a crashed process would: no deregistration, no revoke; the lease runs out by itself. */
    void kill() {
        abandon();
    }

    /** Tells tests whether a recovery is under way (the lease or a key may not match the book yet). */
    boolean recovering() {
        return recovery.isBusy();
    }

    /** The lease the instances hang on, for tests; 0 before the first registration. */
    long leaseId() {
        registrationLock().lock();
        try {
            return leaseId;
        } finally {
            registrationLock().unlock();
        }
    }

    private Collection<ServiceInstance> othersThan(String key) {
        Map<String, ServiceInstance> others = book();
        others.remove(key);
        return others.values();
    }

    private Map<String, ServiceInstance> book() {
        Map<String, ServiceInstance> book = new HashMap<>();
        for (ServiceInstance instance : registrations()) {
            book.put(key(instance), instance);
        }
        return book;
    }

    private String key(ServiceInstance instance) {
        return namespace + "/" + instance.name() + "/" + instance.id();
    }

    /** The trailing slash keeps {@code hello-admin}'s records off the wire when reading {@code hello}. */
    private String prefix(String name) {
        return namespace + "/" + name + "/";
    }

    private static Duration clamp(Duration d, Duration min, Duration max) {
        return d.compareTo(min) < 0 ? min : d.compareTo(max) > 0 ? max : d;
    }

    /**
     * Builds an {@link EtcdRegistry}. Either endpoints (and optionally credentials and TLS) or an existing jetcd
     * {@link Client}. {@link #toString()} never shows the password.
     */
    public static final class Builder {
        private final List<URI> endpoints = new ArrayList<>();
        private String namespace = "/microservices";
        private Duration ttl = Duration.ofSeconds(15);
        private Duration timeout = Duration.ofSeconds(5);
        private String user;
        private String password;
        private boolean tls;
        private Path caFile;
        private Path certFile;
        private Path keyFile;
        private Client client;

        private Builder() {
        }

        /**
         * Adds etcd endpoints: {@code host:port}, {@code host} (port 2379), or {@code http://host:port} and
         * {@code https://host:port} (the latter turns TLS on).
         *
         * @param endpoints one or more endpoints of one cluster
         * @return this builder
         * @throws InvalidOptionException when an endpoint is malformed
         */
        public Builder endpoints(String... endpoints) {
            return endpoints(List.of(endpoints));
        }

        /**
         * Adds etcd endpoints; see {@link #endpoints(String...)}.
         *
         * @param endpoints one or more endpoints of one cluster
         * @return this builder
         * @throws InvalidOptionException when an endpoint is malformed
         */
        public Builder endpoints(Collection<String> endpoints) {
            for (String endpoint : endpoints) {
                URI uri = EtcdConnection.endpoint(endpoint);
                if (uri.getScheme().equals("https")) {
                    tls = true;
                }
                this.endpoints.add(uri);
            }
            return this;
        }

        /**
         * Sets the key prefix: instances are stored at {@code <namespace>/<name>/<id>}, as Kratos does.
         *
         * @param namespace such as {@code /microservices} (the default); trailing slashes are dropped
         * @return this builder
         * @throws InvalidOptionException when it contains whitespace or control characters
         */
        public Builder namespace(String namespace) {
            String ns = Objects.requireNonNull(namespace, "namespace");
            if (ns.chars().anyMatch(c -> Character.isWhitespace(c) || Character.isISOControl(c))) {
                throw new InvalidOptionException("namespace", "etcd namespace must not contain whitespace or "
                        + "control characters, was '" + ns + "'");
            }
            while (ns.endsWith("/")) {
                ns = ns.substring(0, ns.length() - 1);
            }
            this.namespace = ns;
            return this;
        }

        /**
         * Sets the lease TTL: how long instances outlive a registry that stopped renewing (crashed, cut off).
         *
         * @param ttl whole seconds, at least 1 s (etcd counts leases in seconds); default 15 s, as Kratos
         * @return this builder
         * @throws InvalidOptionException when not whole seconds or below 1 s
         */
        public Builder ttl(Duration ttl) {
            Objects.requireNonNull(ttl, "ttl");
            if (ttl.compareTo(Duration.ofSeconds(1)) < 0 || ttl.toMillis() % 1000 != 0) {
                throw new InvalidOptionException("ttl", "etcd option 'ttl' must be whole seconds and at least 1s "
                        + "(etcd leases count seconds), was " + Durations.format(ttl));
            }
            this.ttl = ttl;
            return this;
        }

        /**
         * Sets how long one request to etcd may take before it fails.
         *
         * @param timeout a positive duration; default 5 s
         * @return this builder
         * @throws InvalidOptionException when not positive
         */
        public Builder timeout(Duration timeout) {
            Objects.requireNonNull(timeout, "timeout");
            if (timeout.isZero() || timeout.isNegative()) {
                throw new InvalidOptionException("timeout", "etcd option 'timeout' must be positive, was "
                        + Durations.format(timeout.abs()));
            }
            this.timeout = timeout;
            return this;
        }

        /**
         * Authenticates with etcd's user/password auth.
         *
         * @param user the etcd user
         * @param password its password; never logged nor shown
         * @return this builder
         * @throws InvalidOptionException when either is blank
         */
        public Builder credentials(String user, String password) {
            if (user == null || user.isBlank()) {
                throw new InvalidOptionException("user", "etcd option 'user' must not be blank");
            }
            if (password == null || password.isEmpty()) {
                throw new InvalidOptionException("password", "etcd option 'password' must not be empty when a "
                        + "user is given");
            }
            this.user = user;
            this.password = password;
            return this;
        }

        /**
         * Turns TLS on or off. With TLS on and no {@link #trustedCa(Path) CA file}, the JDK's trusted CAs verify
         * the server.
         *
         * @param tls whether to connect with TLS
         * @return this builder
         */
        public Builder tls(boolean tls) {
            this.tls = tls;
            return this;
        }

        /**
         * Verifies the server with this CA certificate (PEM), and turns TLS on.
         *
         * @param caFile the CA certificate file
         * @return this builder
         */
        public Builder trustedCa(Path caFile) {
            this.caFile = Objects.requireNonNull(caFile, "caFile");
            this.tls = true;
            return this;
        }

        /**
         * Presents this client certificate (for etcd's {@code --client-cert-auth}), and turns TLS on.
         *
         * @param certFile the certificate chain (PEM)
         * @param keyFile its private key (PKCS#8 PEM)
         * @return this builder
         */
        public Builder clientCertificate(Path certFile, Path keyFile) {
            this.certFile = Objects.requireNonNull(certFile, "certFile");
            this.keyFile = Objects.requireNonNull(keyFile, "keyFile");
            this.tls = true;
            return this;
        }

        /**
         * Uses an existing jetcd client instead of creating one; {@link EtcdRegistry#close()} leaves it open.
         * Endpoints, credentials and TLS are then the client's own. Give it a {@code retryMaxAttempts(0)} so that
         * a request that timed out for the registry is not sent again behind its back.
         *
         * @param client the client
         * @return this builder
         */
        public Builder client(Client client) {
            this.client = Objects.requireNonNull(client, "client");
            return this;
        }

        /**
         * Opens the registry. Nothing is sent to etcd yet: the connection is made by the first request.
         *
         * @return an open registry
         * @throws InvalidOptionException when the options are incomplete or inconsistent, or a certificate file
         *     cannot be read
         */
        public EtcdRegistry build() {
            String where;
            EtcdConnection connection;
            if (client != null) {
                if (!endpoints.isEmpty() || user != null || tls) {
                    throw new InvalidOptionException("client", "an etcd client given to the builder brings its "
                            + "own endpoints, credentials and TLS; do not set them as well");
                }
                where = "etcd (given client)";
                connection = new EtcdConnection(client, false, timeout, where + namespace);
            } else {
                if (endpoints.isEmpty()) {
                    throw new InvalidOptionException("endpoints", "etcd needs at least one endpoint, such as "
                            + "127.0.0.1:2379");
                }
                where = "etcd at " + hostPorts();
                Client created = EtcdConnection.client(endpoints, timeout, user, password, tls, caFile, certFile,
                        keyFile);
                connection = new EtcdConnection(created, true, timeout, where + namespace);
            }
            LOG.debug("{}: opened with {}", connection.description(), this);
            return new EtcdRegistry(connection, namespace, ttl);
        }

        private String hostPorts() {
            return endpoints.stream().map(u -> u.getHost() + ":" + u.getPort()).collect(Collectors.joining(","));
        }

        @Override
        public String toString() {
            return "EtcdRegistry.Builder{endpoints=" + hostPorts() + ", namespace=" + namespace
                    + ", ttl=" + Durations.format(ttl) + ", timeout=" + Durations.format(timeout)
                    + (user == null ? "" : ", user=" + user + ", password=***")
                    + ", tls=" + tls + (caFile == null ? "" : ", caFile=" + caFile)
                    + (certFile == null ? "" : ", certFile=" + certFile + ", keyFile=" + keyFile)
                    + (client == null ? "" : ", client=given") + '}';
        }
    }
}
