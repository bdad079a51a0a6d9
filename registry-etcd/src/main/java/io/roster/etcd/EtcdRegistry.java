package io.roster.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.lease.LeaseGrantResponse;
import io.etcd.jetcd.lease.LeaseTimeToLiveResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.LeaseOption;
import io.etcd.jetcd.options.OptionsUtil;
import io.etcd.jetcd.options.PutOption;
import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Options;
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
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
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
 * <p><b>Keepalive.</b> All instances of one registry share one lease, granted on the first {@code register} and
 * renewed every third of its TTL ({@link EtcdKeepAlive}), so the cost of keeping instances alive does not grow
 * with their number. A renewal that a member leaves unanswered (frozen, cut off) is sent again at once on a new
 * stream, which goes to another member. When the lease is lost for any reason (expired during an outage, revoked,
 * etcd restarted with its data lost, {@code put} answered "lease not found"), the registry checks it and, if it is
 * gone, grants a new one and puts every live registration again, retrying with backoff until it succeeds,
 * {@code deregister} or {@code close}. Every half TTL it also checks that each of its records is still attached to
 * its lease, and puts back one that someone else deleted. {@code deregister} deletes a key only if it still holds
 * this registry's last write of it, so it never removes another process's record; {@code close} revokes the lease,
 * which deletes every key of this registry.
 *
 * <p><b>Size.</b> An instance whose etcd request would exceed {@link Builder#maxRequestBytes(int)} (etcd's
 * {@code --max-request-bytes}, 1.5 MiB by default) is refused before anything is sent. Reads are paged, so a
 * service of any size can be read and watched.
 *
 * <p><b>Discovery.</b> {@code getService} reads the prefix {@code <namespace>/<name>/} and keeps the records whose
 * decoded {@code name} is the requested one; a malformed record is logged once and skipped. A watch reads the
 * prefix once, then follows a watch from the next revision and passes each changed record to its watchers,
 * without reading the prefix again; after a watch failure or compaction it reads the prefix again and resumes from
 * there. Like {@code getService}, opening the first watch of a service fails with a
 * {@link io.roster.RegistryUnavailableException} when etcd cannot be read at that moment. {@code services()} reads
 * the keys (not the values) of the namespace, skipping past each service once its name is known.
 *
 * <p>Threads: three daemon threads ({@code roster-etcd-lease-1}, {@code roster-etcd-keepalive-1},
 * {@code roster-etcd-watch-1}, each started when first needed) plus jetcd's own; all end with {@link #close()},
 * except that a {@link Builder#client(Client) client given by the caller} stays open.
 */
public final class EtcdRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdRegistry.class);
    /** etcd's default limit of operations per transaction is 128. */
    private static final int PUTS_PER_TXN = 100;
    /** etcd's default {@code --max-request-bytes}: 1.5 MiB. */
    static final int DEFAULT_MAX_REQUEST_BYTES = 1536 * 1024;
    /** What a put request carries besides its key and value (header, lease, framing), with room to spare. */
    private static final int REQUEST_OVERHEAD = 512;
    /** The same for each put of a transaction. */
    private static final int OP_OVERHEAD = 64;
    /** Malformed records already logged, by key and revision, so that repeated reads log each once. */
    private static final Set<String> SKIPPED = Collections.newSetFromMap(Collections.synchronizedMap(
            new LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > 1024;
                }
            }));

    private final EtcdConnection etcd;
    private final String namespace;
    private final long ttlSeconds;
    private final int maxRequestBytes;
    private final ScheduledExecutorService leaseThread;
    private final ScheduledExecutorService keepAliveThread;
    private final ScheduledExecutorService watchThread;
    private final RetryTask recovery;

    // Guarded by registrationLock(). leaseId 0 means no lease yet.
    private long leaseId;
    private EtcdKeepAlive keepAlive;
    private ScheduledFuture<?> verifying;
    /** Keys whose state on etcd may differ from the book after a failed put or delete; recovery settles them. */
    private final Set<String> unsettled = new LinkedHashSet<>();
    /** The revision of this registry's last write of each key it holds: what deregister may delete. */
    private final Map<String, Long> written = new HashMap<>();
    /** Keys another writer has replaced, already logged. */
    private final Set<String> yielded = new HashSet<>();

    /** The lease being kept alive; written under the lock, read by the keepalive's callbacks. */
    private volatile long watchedLease;
    /** Set when the lease may be gone: recovery checks it first. */
    private volatile boolean leaseSuspect;

    private EtcdRegistry(EtcdConnection etcd, String namespace, Duration ttl, int maxRequestBytes) {
        super(etcd.description());
        this.etcd = etcd;
        this.namespace = namespace;
        this.ttlSeconds = ttl.toSeconds();
        this.maxRequestBytes = maxRequestBytes;
        this.leaseThread = DaemonThreadFactory.scheduler("roster-etcd-lease");
        this.keepAliveThread = DaemonThreadFactory.scheduler("roster-etcd-keepalive");
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
        Record record = new Record(key(instance), instance);
        requireSendable(record); // before anything is sent
        if (leaseId == 0) {
            replaceLease(othersThan(record.key)); // the first registration, or the lease was found gone meanwhile
        }
        try {
            putSettling(record);
        } catch (RegistryException e) {
            if (!EtcdConnection.isLeaseNotFound(e)) {
                throw e;
            }
            LOG.warn("{}: lease {} is gone; granting a new one and registering everything again", description(),
                    Long.toHexString(leaseId));
            replaceLease(othersThan(record.key));
            putSettling(record);
        }
    }

    /** Puts one registration on the lease; when that fails, recovery later makes etcd match the book. */
    private void putSettling(Record record) {
        try {
            put(record);
            unsettled.remove(record.key);
        } catch (RegistryException e) {
            if (uncertain(e)) {
                unsettled.add(record.key); // the put may have reached etcd anyway
                recovery.trigger();
            }
            throw e;
        }
    }

    /**
     * Deletes the key only when it holds this registry's own write: the revision of its last put, or, when the
     * outcome of that put is unknown, a record on this registry's lease. A copy of another process's instance, or a
     * key someone else has written since, is left alone.
     */
    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        String key = key(instance);
        if (!owned && !written.containsKey(key) && !unsettled.contains(key)) {
            LOG.debug("{}: deregister {}/{}: not registered here, nothing to delete", description(), instance.name(),
                    instance.id());
            return;
        }
        try {
            deleteOwn("deregister " + instance.name() + "/" + instance.id(), key);
            unsettled.remove(key);
        } catch (RegistryException e) {
            if (uncertain(e)) {
                unsettled.add(key); // perhaps still on our lease: recovery deletes it once etcd answers
                recovery.trigger();
            }
            throw e;
        }
    }

    private void deleteOwn(String action, String key) {
        ByteSequence k = EtcdConnection.bytes(key);
        Long revision = written.remove(key);
        yielded.remove(key);
        if (revision == null) {
            List<KeyValue> kvs = etcd.call(action, () -> kv().get(k)).getKvs();
            if (kvs.isEmpty() || leaseId == 0 || kvs.get(0).getLease() != leaseId) {
                return; // gone, or not ours
            }
            revision = kvs.get(0).getModRevision();
        }
        Cmp unchanged = new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(revision));
        etcd.call(action, () -> kv().txn().If(unchanged).Then(Op.delete(k, DeleteOption.DEFAULT)).commit());
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
        written.clear(); // the old lease's keys are gone with it
        List<Record> all = instances.stream().map(i -> new Record(key(i), i)).collect(Collectors.toList());
        int done = 0;
        try {
            long grantedAt = System.nanoTime();
            LeaseGrantResponse granted = etcd.call("grant a lease",
                    () -> etcd.client().getLeaseClient().grant(ttlSeconds));
            leaseId = granted.getID();
            startKeepAlive(grantedAt, Duration.ofSeconds(granted.getTTL()));
            while (done < all.size()) {
                done = putBatch(all, done);
            }
            if (!all.isEmpty()) {
                LOG.info("{}: registered {} instance(s) again on new lease {}", description(), all.size(),
                        Long.toHexString(leaseId));
            }
        } catch (RegistryException e) {
            if (leaseId != 0) {
                // The lease is alive: what is left is settled key by key.
                all.subList(done, all.size()).forEach(r -> unsettled.add(r.key));
            }
            recovery.trigger();
            throw e;
        }
        all.forEach(r -> unsettled.remove(r.key));
    }

    private void put(Record record) {
        long lease = leaseId;
        long revision = etcd.call("register " + record.instance.name() + "/" + record.instance.id(),
                () -> kv().put(record.keyBytes, record.value, onLease(lease))).getHeader().getRevision();
        written.put(record.key, revision);
        yielded.remove(record.key);
    }

    /**
     * Puts registrations from {@code from} on in one transaction, as many as etcd takes in one request.
     *
     * @return the index after the last one put
     */
    private int putBatch(List<Record> all, int from) {
        long lease = leaseId;
        List<Op> puts = new ArrayList<>();
        long bytes = REQUEST_OVERHEAD;
        int to = from;
        while (to < all.size() && puts.size() < PUTS_PER_TXN) {
            Record r = all.get(to);
            bytes += r.size() + OP_OVERHEAD;
            if (!puts.isEmpty() && bytes > maxRequestBytes) {
                break;
            }
            puts.add(Op.put(r.keyBytes, r.value, onLease(lease)));
            to++;
        }
        List<Record> batch = all.subList(from, to);
        long revision = etcd.call("register " + batch.size() + " instance(s)",
                () -> kv().txn().Then(puts.toArray(Op[]::new)).commit()).getHeader().getRevision();
        batch.forEach(r -> written.put(r.key, revision));
        return to;
    }

    /**
     * Whether a failed write may still have happened: only when etcd did not answer (timeout, connection lost),
     * not when it refused the request (credentials, size, lease not found).
     */
    private static boolean uncertain(RegistryException e) {
        return e instanceof RegistryUnavailableException && !EtcdConnection.isLeaseNotFound(e);
    }

    private static PutOption onLease(long lease) {
        return PutOption.builder().withLeaseId(lease).build();
    }

    /**
     * Refuses an instance whose put would exceed etcd's request limit, naming its heaviest field: etcd would
     * refuse it anyway, and a transaction of several would fail for all.
     */
    private void requireSendable(Record record) {
        long size = record.size() + REQUEST_OVERHEAD;
        if (size <= maxRequestBytes) {
            return;
        }
        ServiceInstance i = record.instance;
        long metadata = i.metadata().entrySet().stream().mapToLong(e -> utf8(e.getKey()) + utf8(e.getValue())).sum();
        long endpoints = i.endpoints().stream().mapToLong(e -> utf8(e.toString())).sum();
        long version = utf8(i.version());
        String field = metadata >= endpoints && metadata >= version ? "metadata"
                : endpoints >= version ? "endpoints" : "version";
        long weight = Math.max(metadata, Math.max(endpoints, version));
        throw new InvalidInstanceException(field, "must keep the etcd request within " + maxRequestBytes
                + " bytes (option maxRequestBytes, etcd's --max-request-bytes; 1.5 MiB by default)",
                "(" + field + " " + weight + " bytes, request " + size + " bytes)");
    }

    private static long utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    // ---------------------------------------------------------------------------------------------- keepalive

    private void startKeepAlive(long grantedAt, Duration ttl) {
        long lease = leaseId;
        watchedLease = lease;
        leaseSuspect = false;
        keepAlive = new EtcdKeepAlive(etcd, lease, grantedAt, ttl, keepAliveThread, why -> lost(lease, why));
        if (verifying == null) {
            long period = Math.max(500, ttl.toMillis() / 2);
            verifying = leaseThread.scheduleWithFixedDelay(this::verify, period, period, TimeUnit.MILLISECONDS);
        }
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
        leaseSuspect = true;
        LOG.warn("{}: lease {} in danger ({}); checking it", description(), Long.toHexString(lease), why);
        recovery.trigger();
    }

    /**
     * The recovery attempt, run by {@link #recovery} until it succeeds: keep the lease if etcd still has it,
     * otherwise grant a new one and put every registration again; then make every unsettled key match the book.
     */
    private void recover() {
        registrationLock().lock();
        try {
            if (isClosed()) {
                return;
            }
            Map<String, ServiceInstance> book = book();
            if (leaseId != 0 && leaseSuspect) {
                leaseSuspect = false; // a signal arriving during the check triggers another run
                boolean alive;
                try {
                    alive = leaseAlive(leaseId);
                } catch (RegistryException e) {
                    leaseSuspect = true;
                    throw e;
                }
                if (!alive) {
                    LOG.warn("{}: lease {} is gone; {}", description(), Long.toHexString(leaseId), book.isEmpty()
                            ? "nothing to register again" : "registering " + book.size() + " instance(s) again");
                    stopKeepAlive();
                    leaseId = 0;
                    written.clear();
                }
            }
            if (leaseId == 0 && !book.isEmpty()) {
                replaceLease(book.values());
            }
            for (String key : new ArrayList<>(unsettled)) {
                ServiceInstance registered = book.get(key);
                if (registered != null) {
                    put(new Record(key, registered));
                } else {
                    deleteOwn("deregister " + key, key);
                }
                unsettled.remove(key);
            }
        } catch (RegistryException e) {
            if (EtcdConnection.isLeaseNotFound(e)) {
                leaseSuspect = true; // the next attempt checks the lease first
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

    /**
     * Puts back each registration whose key is no longer attached to the lease (someone deleted it: an operator,
     * a Kratos process deregistering a copy), unless another writer has taken the key over. Runs every half TTL.
     */
    private void verify() {
        try {
            long lease;
            registrationLock().lock();
            try {
                lease = leaseId;
                if (isClosed() || lease == 0 || written.isEmpty() || recovery.isBusy()) {
                    return;
                }
            } finally {
                registrationLock().unlock();
            }
            LeaseTimeToLiveResponse state = etcd.call("verify lease " + Long.toHexString(lease), () -> etcd.client()
                    .getLeaseClient().timeToLive(lease, LeaseOption.builder().withAttachedKeys().build()));
            if (state.getTTL() <= 0) {
                lost(lease, "etcd says it is gone");
                return;
            }
            Set<String> attached = new HashSet<>();
            state.getKeys().forEach(k -> attached.add(k.toString(StandardCharsets.UTF_8)));
            long asOf = state.getHeader().getRevision();
            registrationLock().lock();
            try {
                if (isClosed() || lease != leaseId) {
                    return;
                }
                for (ServiceInstance instance : registrations()) {
                    String key = key(instance);
                    Long revision = written.get(key);
                    // Only keys written before the check: a later put is not in its answer yet.
                    if (revision != null && revision <= asOf && !attached.contains(key)) {
                        restore(new Record(key, instance));
                    }
                }
            } finally {
                registrationLock().unlock();
            }
        } catch (RegistryException e) {
            LOG.debug("{}: verifying the registrations failed, next time then: {}", description(), e.getMessage());
        } catch (Throwable t) {
            LOG.error("{}: verifying the registrations failed unexpectedly", description(), t);
        }
    }

    /** Puts a registration back if its key is absent; leaves a key another writer holds now. */
    private void restore(Record record) {
        long lease = leaseId;
        Cmp absent = new Cmp(record.keyBytes, Cmp.Op.EQUAL, CmpTarget.version(0));
        TxnResponse response = etcd.call("restore " + record.instance.name() + "/" + record.instance.id(),
                () -> kv().txn().If(absent).Then(Op.put(record.keyBytes, record.value, onLease(lease))).commit());
        if (response.isSucceeded()) {
            written.put(record.key, response.getHeader().getRevision());
            yielded.remove(record.key);
            LOG.warn("{}: the record of {}/{} was deleted by someone else; put it back", description(),
                    record.instance.name(), record.instance.id());
        } else if (yielded.add(record.key)) {
            LOG.warn("{}: the record of {}/{} was overwritten by another writer (the same instance registered "
                    + "elsewhere?); leaving it to them", description(), record.instance.name(), record.instance.id());
        }
    }

    // ---------------------------------------------------------------------------------------------- discovery

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        EtcdConnection.Range range = etcd.readPrefix("getService " + name, EtcdConnection.bytes(prefix(name)),
                false, EtcdConnection::successor);
        List<ServiceInstance> found = new ArrayList<>(range.kvs().size());
        for (KeyValue kv : range.kvs()) {
            decode(kv, name).ifPresent(found::add);
        }
        return found;
    }

    /** Names from the keys {@code <namespace>/<name>/<id>}; after a name, the read skips the rest of its keys. */
    @Override
    protected Collection<String> doServices() {
        String root = namespace + "/";
        Set<String> names = new HashSet<>();
        List<KeyValue> kvs = etcd.readPrefix("services", EtcdConnection.bytes(root), true, last -> {
            Optional<String> name = serviceOf(root, last);
            return name.isPresent() ? OptionsUtil.prefixEndOf(EtcdConnection.bytes(prefix(name.get())))
                    : EtcdConnection.successor(last);
        }).kvs();
        for (KeyValue kv : kvs) {
            serviceOf(root, kv.getKey()).ifPresent(names::add);
        }
        return names;
    }

    /** The service of a key {@code <root><name>/<id>}, when the name is readable and the id not empty. */
    private static Optional<String> serviceOf(String root, ByteSequence key) {
        String rest = key.toString(StandardCharsets.UTF_8).substring(root.length());
        int slash = rest.indexOf('/');
        if (slash <= 0 || slash == rest.length() - 1) {
            return Optional.empty();
        }
        String name = rest.substring(0, slash);
        try {
            return Optional.of(ServiceInstance.requireReadableName(name));
        } catch (InvalidInstanceException e) {
            return Optional.empty();
        }
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
     * @return the instance, or empty for a malformed record (logged once) or another service's
     */
    static Optional<ServiceInstance> decode(KeyValue kv, String name) {
        ServiceInstance instance;
        try {
            instance = InstanceJson.decode(kv.getValue().toString(StandardCharsets.UTF_8));
        } catch (InvalidInstanceException e) {
            String key = kv.getKey().toString(StandardCharsets.UTF_8);
            if (SKIPPED.add(key + "@" + kv.getModRevision())) {
                LOG.warn("Skipping malformed instance record at etcd key {}: {}", key, e.getMessage());
            }
            return Optional.empty();
        }
        return instance.name().equals(name) ? Optional.of(instance) : Optional.empty();
    }

    // ---------------------------------------------------------------------------------------------- lifecycle

    @Override
    protected void shutdown() {
        recovery.close();
        registrationLock().lock();
        try {
            stopKeepAlive();
            if (verifying != null) {
                verifying.cancel(false);
            }
        } finally {
            registrationLock().unlock();
        }
        leaseThread.shutdownNow();
        keepAliveThread.shutdownNow();
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

    /** For {@link EtcdInspector}: the connection and the namespace the records are under. */
    EtcdInspector.Source inspectionSource() { return new EtcdInspector.Source(etcd, namespace); }

    private KV kv() {
        return etcd.client().getKVClient();
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

    /** One registration as it goes on the wire: its key and its encoded value. */
    private static final class Record {
        final String key;
        final ByteSequence keyBytes;
        final ServiceInstance instance;
        final ByteSequence value;

        Record(String key, ServiceInstance instance) {
            this.key = key;
            this.keyBytes = EtcdConnection.bytes(key);
            this.instance = instance;
            this.value = EtcdConnection.bytes(InstanceJson.encode(instance));
        }

        long size() {
            return keyBytes.size() + value.size();
        }
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
        private int maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES;
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
            return endpoints(Arrays.asList(Options.required(endpoints, "endpoints")));
        }

        /**
         * Adds etcd endpoints; see {@link #endpoints(String...)}.
         *
         * @param endpoints one or more endpoints of one cluster
         * @return this builder
         * @throws InvalidOptionException when an endpoint is malformed
         */
        public Builder endpoints(Collection<String> endpoints) {
            for (String endpoint : Options.required(endpoints, "endpoints")) {
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
            String ns = Options.required(namespace, "namespace");
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
            Options.required(ttl, "ttl");
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
            Options.required(timeout, "timeout");
            if (timeout.isZero() || timeout.isNegative()) {
                throw new InvalidOptionException("timeout", "etcd option 'timeout' must be positive, was "
                        + Durations.format(timeout.abs()));
            }
            this.timeout = timeout;
            return this;
        }

        /**
         * Sets the largest request etcd accepts: its {@code --max-request-bytes}. An instance whose put would be
         * larger is refused by {@code register} before anything is sent, with an
         * {@link InvalidInstanceException} naming its heaviest field (usually {@code metadata}).
         *
         * @param maxRequestBytes at least 4096; default 1.5 MiB, etcd's default
         * @return this builder
         * @throws InvalidOptionException when below 4096
         */
        public Builder maxRequestBytes(int maxRequestBytes) {
            if (maxRequestBytes < 4096) {
                throw new InvalidOptionException("maxRequestBytes", "etcd option 'maxRequestBytes' must be at least "
                        + "4096, was " + maxRequestBytes);
            }
            this.maxRequestBytes = maxRequestBytes;
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
            this.caFile = Options.required(caFile, "caFile");
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
            this.certFile = Options.required(certFile, "certFile");
            this.keyFile = Options.required(keyFile, "keyFile");
            this.tls = true;
            return this;
        }

        /**
         * Uses an existing jetcd client instead of creating one; {@link EtcdRegistry#close()} leaves it open.
         * Endpoints, credentials, TLS, gRPC keepalive and message limits are then the client's own. Give it a
         * {@code retryMaxAttempts(0)} so that a request that timed out for the registry is not sent again behind
         * its back, and {@code keepaliveWithoutCalls(false)} so that etcd does not cut it off for pinging without
         * calls. Its calls carry no deadline: a lease renewal stuck on a frozen member waits for the client's own
         * gRPC keepalive to give up, while the registry renews through other members.
         *
         * @param client the client
         * @return this builder
         */
        public Builder client(Client client) {
            this.client = Options.required(client, "client");
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
            return new EtcdRegistry(connection, namespace, ttl, maxRequestBytes);
        }

        private String hostPorts() {
            return endpoints.stream().map(u -> u.getHost() + ":" + u.getPort()).collect(Collectors.joining(","));
        }

        @Override
        public String toString() {
            return "EtcdRegistry.Builder{endpoints=" + hostPorts() + ", namespace=" + namespace
                    + ", ttl=" + Durations.format(ttl) + ", timeout=" + Durations.format(timeout)
                    + (maxRequestBytes == DEFAULT_MAX_REQUEST_BYTES ? "" : ", maxRequestBytes=" + maxRequestBytes)
                    + (user == null ? "" : ", user=" + user + ", password=***")
                    + ", tls=" + tls + (caFile == null ? "" : ", caFile=" + caFile)
                    + (certFile == null ? "" : ", certFile=" + certFile + ", keyFile=" + keyFile)
                    + (client == null ? "" : ", client=given") + '}';
        }
    }
}
