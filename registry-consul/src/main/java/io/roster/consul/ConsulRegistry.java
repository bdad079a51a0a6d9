package io.roster.consul;

import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Backoff;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Http;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * A registry on a Consul agent ({@code consul://127.0.0.1:8500}), in Go Kratos's layout, so that Java and Go
 * services on one Consul see each other.
 *
 * <ul>
 *   <li><b>Registration</b>: {@code PUT /v1/agent/service/register} with the instance as Kratos writes it
 *       ({@code version=<v>} tag, tagged addresses holding the endpoint URLs, metadata as {@code Meta}) and a TTL
 *       check {@code service:<id>} (default TTL 20 s, {@code DeregisterCriticalServiceAfter} 600 s), passed at once
 *       so that {@code register} returns with the instance discoverable. The writes of one instance id reach the
 *       agent in the order they were issued, whatever thread issued them, and no lock is held while one is in
 *       flight.</li>
 *   <li><b>Keepalive</b>: one scheduler thread passes each instance's TTL check every heartbeat (default TTL/2),
 *       asynchronously, each instance at its own offset in the period. When the agent answers that it does not
 *       know the check (restarted, replaced, or the instance removed behind our back), the instance is registered
 *       again, whole, with backoff and no ceiling, on a background thread, until it is deregistered. On by default,
 *       unlike Spring Cloud Consul.</li>
 *   <li><b>Deregistration</b>: an agent that does not know the instance is no error (404, or 500 {@code Unknown
 *       service} from Consul 1.10 with ACLs). One that did not reach the agent (an outage) is remembered and
 *       finished when the agent is back, unless the instance is registered again first; {@code close()} finishes
 *       them too.</li>
 *   <li><b>Discovery</b>: {@code /v1/health/service/<name>}, passing instances only by default; {@code services()}
 *       from {@code /v1/catalog/services}. Watches are blocking queries within the connection bound (see
 *       {@link ConsulWatch}); a service scaling to zero is pushed as an empty list.</li>
 *   <li><b>Connections</b>: at most {@code maxConnections} (default 16) to the agent, shared by everything, and
 *       all closed by {@code close()}; HTTP 429 (Consul's per-client connection limit) is retried after a backoff.
 *       </li>
 *   <li><b>Security</b>: the ACL token is sent as {@code X-Consul-Token} on every request, with or without TLS; a
 *       refused token fails with {@link RegistryAccessDeniedException}. The token never appears in logs, messages
 *       or {@code toString()}. TLS with a CA file and client certificates.</li>
 * </ul>
 *
 * <p>TCP checks per endpoint (Kratos's default) are off by default: the TTL heartbeat already proves the process
 * alive, a TCP check starts critical (the instance stays hidden from passing-only discovery until its first run,
 * up to an interval after {@code register}), and an endpoint the agent cannot reach (another network, an
 * advertised address the agent does not route to) keeps the instance critical for good. Turn them on with
 * {@link Builder#tcpCheck(boolean)} for Kratos's behaviour.
 *
 * <pre>{@code
 * try (Registry registry = ConsulRegistry.builder().address("127.0.0.1:8500").token(token).build()) { ... }
 * // or Registries.open("consul://127.0.0.1:8500?token=...&ttl=20s")
 * }</pre>
 */
public final class ConsulRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(ConsulRegistry.class);

    private final ConsulConfig config;
    private final ConsulClient client;
    private final ScheduledExecutorService scheduler;
    private final ScheduledExecutorService background;
    private final ConsulWatch watches;
    private final Map<String, Keepalive> keepalives = new ConcurrentHashMap<>(); // by name/id
    // The agent's writes of one service id, in the order issued: each starts when the one before has ended.
    private final Map<String, CompletableFuture<?>> lanes = new ConcurrentHashMap<>();
    // Deregistrations that have not reached the agent yet, by service id; the mark tells a later one apart.
    private final Map<String, Object> pending = new ConcurrentHashMap<>();
    private final RetryTask finishing;
    private final AtomicBoolean heartbeatsFailing = new AtomicBoolean();

    private ConsulRegistry(ConsulConfig config) {
        super("consul at " + config.agent().getScheme() + "://" + config.agent().getRawAuthority());
        this.config = config;
        this.client = new ConsulClient(config);
        this.scheduler = DaemonThreadFactory.scheduler("roster-consul-scheduler");
        this.background = backgroundExecutor(config.maxConnections());
        this.watches = new ConsulWatch(client, scheduler, config, description());
        this.finishing = new RetryTask("finish deregistrations on " + description(), background, Backoff.defaults(),
                this::finishPending);
    }

    /**
     * Re-registrations and postponed deregistrations wait for the agent here, never on the scheduler that passes
     * TTL checks and paces watches; at most an eighth of the connections are theirs, so heartbeats always find one.
     */
    private static ScheduledExecutorService backgroundExecutor(int maxConnections) {
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(Math.max(1, maxConnections / 8),
                new DaemonThreadFactory("roster-consul-background"));
        executor.setRemoveOnCancelPolicy(true);
        executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        executor.setKeepAliveTime(30, TimeUnit.SECONDS);
        executor.allowCoreThreadTimeOut(true);
        return executor;
    }

    /**
     * Starts a builder.
     *
     * @return a builder for the agent at {@code 127.0.0.1:8500}, without token, TTL 20 s
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        ConsulFormat.validate(instance);
        String key = key(instance);
        Keepalive fresh = new Keepalive(instance);
        Keepalive old = keepalives.put(key, fresh); // from now on, what the old one had queued is skipped
        pending.remove(instance.id()); // a deregistration still to finish must not remove this registration
        try {
            await(inOrder(instance.id(), fresh::write), "register " + key);
        } catch (RegistryException e) {
            fresh.close();
            if (old == null) {
                keepalives.remove(key, fresh);
            } else {
                keepalives.replace(key, fresh, old); // the update failed: the old registration stays in charge
            }
            if (previous == null && !(e instanceof RegistryAccessDeniedException)
                    && !(e instanceof InvalidInstanceException)) {
                // The registration may have reached the agent before the failure: the caller saw it fail, so it
                // must not stay (critical, then reaped) in the catalog.
                Object mark = new Object();
                pending.put(instance.id(), mark);
                inOrder(instance.id(), () -> deregistration(instance.id(), mark))
                        .whenComplete((r, error) -> {
                            if (error != null) {
                                finishing.trigger();
                            }
                        });
            }
            throw e;
        }
        if (old != null) {
            old.close();
        }
        fresh.start();
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        Keepalive keepalive = keepalives.remove(key(instance));
        if (keepalive != null) {
            keepalive.close();
        }
        String id = instance.id();
        Object mark;
        if (owned) {
            mark = new Object();
            pending.put(id, mark);
        } else {
            mark = pending.get(id); // ours only when an earlier deregistration of it is still to finish
            if (mark == null) {
                return; // not ours: the agent's record, if any, belongs to another process
            }
        }
        try {
            await(inOrder(id, () -> deregistration(id, mark)), "deregister " + key(instance));
        } catch (RegistryException e) {
            if (e instanceof RegistryAccessDeniedException) {
                pending.remove(id, mark); // trying again would not help
            } else {
                LOG.warn("{}: {} is deregistered when the agent is back ({})", description(), key(instance),
                        e.getMessage());
                finishing.trigger();
            }
            throw e;
        }
    }

    /** Deregisters everything at once, so that closing against a hung agent takes one timeout, not one each. */
    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        for (ServiceInstance instance : instances) {
            Keepalive keepalive = keepalives.remove(key(instance));
            if (keepalive != null) {
                keepalive.close();
            }
            pending.put(instance.id(), new Object());
        }
        List<CompletableFuture<Void>> calls = new ArrayList<>();
        pending.forEach((id, mark) -> calls.add(inOrder(id, () -> deregistration(id, mark))));
        try {
            CompletableFuture.allOf(calls.toArray(new CompletableFuture<?>[0]))
                    .get(writeBound().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // counted below
        }
        if (!pending.isEmpty()) {
            LOG.warn("{}: {} instance(s) could not be deregistered on close ({}...): their TTL checks expire, and"
                    + " Consul removes them {} after that", description(), pending.size(),
                    pending.keySet().iterator().next(), ConsulFormat.goDuration(config.deregisterAfter()));
        }
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        try {
            ConsulClient.Reply reply = ConsulClient.await(client.health(name, config.passingOnly(),
                    config.datacenter(), 0, null));
            if (!reply.ok()) {
                throw client.failure(reply, "reading service '" + name + "'");
            }
            return ConsulFormat.instances(reply.body, name);
        } catch (IOException | InterruptedException e) {
            throw translate("read service '" + name + "'", e);
        }
    }

    /** {@code /v1/catalog/services}: every service registered in the datacenter, but Consul's own. */
    @Override
    protected Collection<String> doServices() {
        try {
            ConsulClient.Reply reply = ConsulClient.await(client.services(config.datacenter(), 0, null));
            if (!reply.ok()) {
                throw client.failure(reply, "listing services");
            }
            return ConsulFormat.serviceNames(reply.body);
        } catch (IOException | InterruptedException e) {
            throw translate("list services", e);
        }
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        ConsulWatch.Followed followed = watches.follow(name, sink);
        try {
            followed.awaitFirst(config.timeout());
        } catch (IOException | InterruptedException e) {
            followed.close();
            throw translate("watch service '" + name + "'", e);
        }
        return followed;
    }

    @Override
    protected void shutdown() {
        keepalives.values().forEach(Keepalive::close);
        keepalives.clear();
        finishing.close();
        watches.close();
        background.shutdownNow();
        scheduler.shutdownNow();
        client.close(); // every connection, at once
        try {
            background.awaitTermination(config.timeout().toMillis(), TimeUnit.MILLISECONDS);
            scheduler.awaitTermination(config.timeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Stops as a crashed process would, for tests: no deregistration, no more heartbeats; the instances turn
     * critical when their TTL runs out.
     */
    void kill() {
        abandon();
    }

    /** Connections open to the agent now, for tests. */
    int openConnections() {
        return client.openConnections();
    }

    /**
     * Runs the agent writes of one service id one after the other, in the order issued, each starting when the
     * one before has ended (failed or not): a registration can never overtake a deregistration issued before it,
     * or the reverse, whatever thread issued them. No lock is held while a write is in flight.
     */
    private <T> CompletableFuture<T> inOrder(String id, Supplier<CompletableFuture<T>> write) {
        CompletableFuture<T> result = new CompletableFuture<>();
        CompletableFuture<?>[] before = new CompletableFuture<?>[1];
        lanes.compute(id, (k, tail) -> {
            before[0] = tail;
            return result;
        });
        CompletableFuture<?> previous = before[0] == null ? CompletableFuture.completedFuture(null) : before[0];
        previous.handle((r, e) -> null).thenCompose(v -> {
            try {
                return write.get();
            } catch (RuntimeException e) {
                return CompletableFuture.<T>failedFuture(e);
            }
        }).whenComplete((r, e) -> {
            if (e != null) {
                result.completeExceptionally(e);
            } else {
                result.complete(r);
            }
        });
        result.whenComplete((r, e) -> lanes.remove(id, result));
        return result;
    }

    /** Deregisters an id unless a later registration of it took the deregistration back. */
    private CompletableFuture<Void> deregistration(String id, Object mark) {
        if (pending.get(id) != mark) {
            return CompletableFuture.completedFuture(null);
        }
        return client.deregister(id).thenRun(() -> pending.remove(id, mark));
    }

    /** Retries, with backoff, the deregistrations an outage postponed; runs on the background executor. */
    private void finishPending() throws Exception {
        if (pending.isEmpty() || isClosed()) {
            return;
        }
        Map<String, Object> now = new HashMap<>(pending);
        List<CompletableFuture<Void>> calls = new ArrayList<>();
        now.forEach((id, mark) -> calls.add(inOrder(id, () -> deregistration(id, mark))));
        IOException failure = null;
        int done = 0;
        for (CompletableFuture<Void> call : calls) {
            try {
                call.get(writeBound().toMillis(), TimeUnit.MILLISECONDS);
                done++;
            } catch (ExecutionException e) {
                failure = ConsulClient.asIo(e.getCause());
            } catch (TimeoutException e) {
                failure = new IOException("no answer in time");
            }
        }
        if (done > 0) {
            LOG.info("{}: finished {} deregistration(s) that an outage had postponed", description(), done);
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** The longest a caller waits for its write: one queued before it and its own, each two requests at most. */
    private Duration writeBound() {
        return config.timeout().multipliedBy(4).plusSeconds(1);
    }

    private void await(CompletableFuture<?> write, String action) {
        try {
            write.get(writeBound().toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw translate(action, ConsulClient.asIo(e.getCause()));
        } catch (TimeoutException e) {
            throw translate(action, new IOException("no answer within " + writeBound()));
        } catch (InterruptedException e) {
            throw translate(action, e);
        }
    }

    private void heartbeatFailed(ServiceInstance instance, IOException e) {
        if (heartbeatsFailing.compareAndSet(false, true)) {
            LOG.warn("{}: passing the TTL check of {} failed (instances turn critical if this lasts their TTL, {});"
                    + " trying on: {}", description(), key(instance), ConsulFormat.goDuration(config.ttl()),
                    e.toString());
        } else {
            LOG.debug("{}: passing the TTL check of {} failed: {}", description(), key(instance), e.toString());
        }
    }

    private void heartbeatPassed() {
        if (heartbeatsFailing.compareAndSet(true, false)) {
            LOG.info("{}: TTL checks pass again", description());
        }
    }

    private RegistryException translate(String action, Throwable e) {
        if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        if (e instanceof ConsulClient.ConsulHttpException) {
            ConsulClient.ConsulHttpException http = (ConsulClient.ConsulHttpException) e;
            if (http.denied()) {
                return new RegistryAccessDeniedException(description() + " refused to " + action + " ("
                        + http.getMessage() + "): check the ACL token (option 'token')"
                        + (config.token() == null ? ", none was given" : ""), e);
            }
            if (http.status == 400) {
                return new InvalidInstanceException("instance", "was rejected by " + description(),
                        "(" + http.getMessage() + ")");
            }
        }
        return unavailable(action, e);
    }

    private static String key(ServiceInstance instance) {
        return instance.name() + "/" + instance.id();
    }

    /**
     * Keeps one registered instance alive: its payload, its TTL check passed every heartbeat (each instance at its
     * own offset, so that many instances spread over the period), and its re-registration when the agent lost it.
     */
    private final class Keepalive {
        final ServiceInstance instance;
        final String key;
        final String payload;
        final String checkId;
        final RetryTask reregistration;
        private final AtomicBoolean passing = new AtomicBoolean();
        private volatile ScheduledFuture<?> beats;
        private volatile boolean closed;

        Keepalive(ServiceInstance instance) {
            this.instance = instance;
            this.key = key(instance);
            this.payload = ConsulFormat.registration(instance, config.checks());
            this.checkId = ConsulFormat.checkId(instance);
            this.reregistration = new RetryTask("re-register " + key + " on " + description(), background,
                    Backoff.defaults(), this::reregister);
        }

        /** Still the registration in charge of this instance. */
        boolean current() {
            return !closed && !isClosed() && keepalives.get(key) == this;
        }

        /** Registers the payload and passes the check, so that the instance is discoverable at once. */
        CompletableFuture<Void> write() {
            return client.register(payload).thenCompose(r -> client.passTtl(checkId)).thenApply(r -> null);
        }

        void start() {
            long period = config.heartbeat().toNanos();
            long offset = 1 + ThreadLocalRandom.current().nextLong(period); // the first pass went with register
            try {
                beats = scheduler.scheduleAtFixedRate(this::beat, offset, period, TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException e) {
                return; // closing
            }
            if (closed) {
                beats.cancel(false);
            }
        }

        /**
         * Passes the TTL check, asynchronously; skipped while a pass or a re-registration is under way. Never
         * throws: a periodic task that throws is never run again.
         */
        void beat() {
            try {
                if (!current() || reregistration.isBusy() || !passing.compareAndSet(false, true)) {
                    return;
                }
                client.passTtl(checkId).whenComplete((reply, error) -> {
                    passing.set(false);
                    if (error == null) {
                        heartbeatPassed();
                    } else if (current()) {
                        passFailed(ConsulClient.asIo(error));
                    }
                });
            } catch (Throwable t) {
                passing.set(false);
                LOG.error("{}: heartbeat of {} failed, trying again next period", description(), key, t);
            }
        }

        private void passFailed(IOException failure) {
            if (failure instanceof ConsulClient.ConsulHttpException
                    && ((ConsulClient.ConsulHttpException) failure).unknownCheck()) {
                LOG.info("{}: the agent does not know {} (restarted, replaced, or removed by someone else):"
                        + " registering it again ({})", description(), key, failure.getMessage());
                reregistration.trigger();
            } else {
                heartbeatFailed(instance, failure);
            }
        }

        /**
         * Registers the whole payload again, unless it was deregistered or replaced meanwhile; the check is made
         * when the write's turn comes, so a deregistration issued before it wins. Runs on the background executor,
         * holding no lock.
         */
        void reregister() throws Exception {
            if (!current()) {
                return;
            }
            CompletableFuture<Void> done = inOrder(instance.id(),
                    () -> current() ? write() : CompletableFuture.completedFuture(null));
            try {
                done.get(writeBound().toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                throw ConsulClient.asIo(e.getCause());
            } catch (TimeoutException e) {
                throw new IOException("no answer within " + writeBound());
            }
            if (current()) {
                LOG.info("{}: registered {} again", description(), key);
            }
        }

        void close() {
            closed = true;
            ScheduledFuture<?> b = beats;
            if (b != null) {
                b.cancel(false);
            }
            reregistration.close();
        }
    }

    /**
     * Builds a {@link ConsulRegistry}. Every setting has a URI option of the same meaning, named in parentheses;
     * a bad value fails {@link #build()} with an {@link InvalidOptionException} naming that option.
     */
    public static final class Builder {
        /** Consul's longest blocking wait. */
        static final Duration MAX_WAIT = Duration.ofMinutes(10);
        /** The default bound on connections to the agent. */
        static final int DEFAULT_MAX_CONNECTIONS = 16;
        /** Two for the shared watch queries, two more for everything else. */
        static final int MIN_CONNECTIONS = 4;
        static final int MAX_CONNECTIONS = 1024;

        private String address = "127.0.0.1";
        private String token;
        private String datacenter;
        private Duration ttl = Duration.ofSeconds(20);
        private Duration heartbeat;
        private Duration deregisterAfter = Duration.ofSeconds(600);
        private boolean tcpCheck;
        private List<String> tags = List.of();
        private Duration wait = Duration.ofSeconds(55);
        private Duration timeout = Duration.ofSeconds(10);
        private boolean passingOnly = true;
        private int maxConnections = DEFAULT_MAX_CONNECTIONS;
        private Boolean tls;
        private Path caFile;
        private Path certFile;
        private Path keyFile;
        private SSLContext sslContext;

        private Builder() {
        }

        /**
         * Sets the agent to talk to (the host part of the URI); register with the agent of your own node.
         *
         * @param address {@code host}, {@code host:port}, {@code [::1]:8500}, or {@code http(s)://host:port};
         *     the port defaults to 8500, or 8501 with TLS
         * @return this builder
         */
        public Builder address(String address) {
            this.address = required("address", address);
            return this;
        }

        /**
         * Sets the ACL token ({@code token}), sent as {@code X-Consul-Token} on every request.
         *
         * @param token the token's secret ID; never logged
         * @return this builder
         */
        public Builder token(String token) {
            this.token = required("token", token);
            return this;
        }

        /**
         * Sets the datacenter to discover in ({@code dc}); registration always goes to the agent's own.
         *
         * @param datacenter such as {@code dc1}
         * @return this builder
         */
        public Builder datacenter(String datacenter) {
            this.datacenter = required("dc", datacenter);
            return this;
        }

        /**
         * Sets the TTL of each instance's check ({@code ttl}, default 20 s): an instance whose process stops
         * heartbeating turns critical, and leaves passing-only discovery, this long after its last heartbeat.
         *
         * @param ttl a positive duration
         * @return this builder
         */
        public Builder ttl(Duration ttl) {
            this.ttl = required("ttl", ttl);
            return this;
        }

        /**
         * Sets how often TTL checks are passed ({@code heartbeat}, default half the TTL); also the interval of
         * TCP checks.
         *
         * @param heartbeat shorter than the TTL
         * @return this builder
         */
        public Builder heartbeat(Duration heartbeat) {
            this.heartbeat = required("heartbeat", heartbeat);
            return this;
        }

        /**
         * Sets how long Consul keeps an instance whose checks stay critical before removing it
         * ({@code deregisterAfter}, default 600 s as in Kratos; Consul treats anything under a minute as one).
         *
         * @param deregisterAfter a positive duration
         * @return this builder
         */
        public Builder deregisterCriticalServiceAfter(Duration deregisterAfter) {
            this.deregisterAfter = required("deregisterAfter", deregisterAfter);
            return this;
        }

        /**
         * Adds a TCP check per endpoint ({@code tcpCheck}, default false; Kratos's default is true), run by the
         * agent every heartbeat interval. An endpoint the agent cannot connect to keeps the instance critical,
         * so hidden from passing-only discovery.
         *
         * @param tcpCheck whether to add them
         * @return this builder
         */
        public Builder tcpCheck(boolean tcpCheck) {
            this.tcpCheck = tcpCheck;
            return this;
        }

        /**
         * Sets extra tags ({@code tags}, comma-separated), written after the {@code version=} tag.
         *
         * @param tags non-blank tags, none starting with {@code version=}
         * @return this builder
         */
        public Builder tags(List<String> tags) {
            required("tags", tags);
            for (String tag : tags) {
                if (tag == null) {
                    throw bad("tags", "must not hold a null tag");
                }
            }
            this.tags = List.copyOf(tags);
            return this;
        }

        /**
         * Sets how long the agent holds a watch's blocking query ({@code wait}, default 55 s as in Kratos, at
         * most 10 min).
         *
         * @param wait a positive duration
         * @return this builder
         */
        public Builder blockingQueryWait(Duration wait) {
            this.wait = required("wait", wait);
            return this;
        }

        /**
         * Sets the timeout of each request ({@code timeout}, default 10 s); a blocking query may take its wait,
         * Consul's jitter of up to wait/16, and this timeout.
         *
         * @param timeout a positive duration
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = required("timeout", timeout);
            return this;
        }

        /**
         * Chooses whether discovery returns only instances whose checks all pass ({@code passingOnly}, default
         * true, as Kratos); false returns critical instances too, for monitoring.
         *
         * @param passingOnly whether to filter
         * @return this builder
         */
        public Builder passingOnly(boolean passingOnly) {
            this.passingOnly = passingOnly;
            return this;
        }

        /**
         * Bounds the connections this registry opens to the agent ({@code maxConnections}, default 16), shared by
         * heartbeats, writes and watches: at most half of them hold blocking queries (one per watched service for
         * the first {@code maxConnections/2 - 2} services, two for all the others together), so writes always
         * find one. Consul limits each client IP to {@code limits.http_max_conns_per_client} connections (default
         * 200), shared by every process on the host, and answers HTTP 429 past it.
         *
         * @param maxConnections 4 to 1024
         * @return this builder
         */
        public Builder maxConnections(int maxConnections) {
            this.maxConnections = maxConnections;
            return this;
        }

        /**
         * Talks HTTPS to the agent ({@code tls}); implied by a CA file, a client certificate or an SSL context.
         *
         * @param tls whether to use TLS
         * @return this builder
         */
        public Builder tls(boolean tls) {
            this.tls = tls;
            return this;
        }

        /**
         * Trusts the CA certificates of a PEM file ({@code caFile}) instead of the JDK's defaults.
         *
         * @param caFile a PEM file of one or more certificates
         * @return this builder
         */
        public Builder caFile(Path caFile) {
            this.caFile = required("caFile", caFile);
            return this;
        }

        /**
         * Presents a client certificate ({@code certFile}, {@code keyFile}), for agents with
         * {@code verify_incoming}.
         *
         * @param certFile the PEM certificate chain
         * @param keyFile its unencrypted PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)
         * @return this builder
         */
        public Builder clientCertificate(Path certFile, Path keyFile) {
            this.certFile = required("certFile", certFile);
            this.keyFile = required("keyFile", keyFile);
            return this;
        }

        /**
         * Uses a ready-made TLS context instead of {@link #caFile} and {@link #clientCertificate}.
         *
         * @param sslContext the context
         * @return this builder
         */
        public Builder sslContext(SSLContext sslContext) {
            this.sslContext = required("sslContext", sslContext);
            return this;
        }

        /**
         * Validates the settings and opens the registry. Nothing is sent until the first call.
         *
         * @return the registry
         * @throws InvalidOptionException naming the first bad setting
         */
        public ConsulRegistry build() {
            return new ConsulRegistry(config());
        }

        ConsulConfig config() {
            positive("ttl", ttl);
            Duration beat = heartbeat == null ? ttl.dividedBy(2) : heartbeat;
            positive("heartbeat", beat);
            if (beat.compareTo(ttl) >= 0) {
                throw bad("heartbeat", "must be shorter than ttl (" + ConsulFormat.goDuration(ttl) + "), was "
                        + ConsulFormat.goDuration(beat));
            }
            positive("deregisterAfter", deregisterAfter);
            positive("wait", wait);
            if (wait.compareTo(MAX_WAIT) > 0) {
                throw bad("wait", "must be at most 10m (Consul's limit for blocking queries), was "
                        + ConsulFormat.goDuration(wait));
            }
            positive("timeout", timeout);
            if (maxConnections < MIN_CONNECTIONS || maxConnections > MAX_CONNECTIONS) {
                throw bad("maxConnections", "must be between " + MIN_CONNECTIONS + " and " + MAX_CONNECTIONS
                        + ", was " + maxConnections);
            }
            for (String tag : tags) {
                if (tag == null || tag.isBlank()) {
                    throw bad("tags", "must not hold a blank tag");
                }
                if (tag.startsWith(ConsulFormat.VERSION_TAG)) {
                    throw bad("tags", "must not hold a 'version=' tag (written from the instance's version), was '"
                            + tag + "'");
                }
            }
            if (token != null && token.isBlank()) {
                throw bad("token", "must not be blank");
            }
            if (datacenter != null && datacenter.isBlank()) {
                throw bad("dc", "must not be blank");
            }
            boolean tlsFiles = caFile != null || certFile != null || sslContext != null;
            if (Boolean.FALSE.equals(tls) && tlsFiles) {
                throw bad("tls", "is false but caFile, certFile or an SSL context is given");
            }
            if (sslContext != null && (caFile != null || certFile != null)) {
                throw bad("caFile", "cannot be combined with a ready-made SSL context");
            }
            URI agent = Http.baseUri("consul", address, Boolean.TRUE.equals(tls) || tlsFiles, 8500, 8501);
            boolean secure = agent.getScheme().equals("https");
            SSLContext context = sslContext;
            String tlsDescription = null;
            if (secure) {
                if (context == null && (caFile != null || certFile != null)) {
                    context = ConsulTls.context(caFile, certFile, keyFile);
                }
                tlsDescription = (caFile == null ? "" : "caFile=" + caFile + " ")
                        + (certFile == null ? "" : "certFile=" + certFile + " keyFile=" + keyFile + " ")
                        + (sslContext == null ? "" : "custom SSL context ") + "on";
            }
            return new ConsulConfig(agent, token, datacenter, ttl, beat, deregisterAfter, tcpCheck, tags, wait,
                    timeout, passingOnly, maxConnections, context, tlsDescription);
        }

        private static <T> T required(String option, T value) {
            if (value == null) {
                throw bad(option, "must not be null");
            }
            return value;
        }

        private static void positive(String option, Duration d) {
            if (d.toMillis() < 1) {
                throw bad(option, "must be at least 1ms, was " + d);
            }
        }

        private static InvalidOptionException bad(String option, String rule) {
            return new InvalidOptionException(option, "consul option '" + option + "' " + rule);
        }

        @Override
        public String toString() {
            return "ConsulRegistry.Builder{address=" + address + (token == null ? "" : ", token=***") + "}";
        }
    }
}
