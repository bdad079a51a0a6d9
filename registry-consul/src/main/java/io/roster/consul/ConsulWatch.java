package io.roster.consul;

import com.fasterxml.jackson.databind.JsonNode;
import io.roster.ServiceInstance;
import io.roster.spi.Backoff;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.LongFunction;
import java.util.function.Supplier;

/**
 * Follows a registry's watched services with Consul blocking queries, within the registry's connection bound
 * ({@code maxConnections}): at most half of the connections are ever held by blocking queries, the rest serve
 * heartbeats and writes.
 *
 * <ul>
 *   <li><b>Dedicated</b>: the first {@code maxConnections/2 - 2} watched services each get their own blocking query
 *       on {@code /v1/health/service/<name>}, whose index moves only when that service changes; a change reaches
 *       watchers in one round trip.</li>
 *   <li><b>Shared</b>: the others are followed together by two blocking queries, whatever their number:
 *       {@code /v1/health/state/any}, filtered down to their checks (and the node's), whose index moves on any
 *       check change in the datacenter; and {@code /v1/catalog/services}, whose index moves on any registration,
 *       change or removal of a service instance. When the checks of a shared service change (an instance with a
 *       check came or went, or turned passing or critical), that service alone is read again at once; when the
 *       catalog moved, every shared service is read again, at most once a second (a change that touches no check:
 *       metadata of a re-registered instance, an instance registered without checks). So a shared service sees a
 *       health change one non-blocking read later than a dedicated one, and a check-less change within about a
 *       second.</li>
 * </ul>
 *
 * <p>Consul's rules for blocking queries (api-docs/features/blocking, "Implementation Details"), in {@link Loop}:
 * the next query waits on the {@code X-Consul-Index} of the last answer; 0 is never waited on after the first
 * answer (an index of 0 or less waits on 1); an index lower than the previous one (restored snapshot, restarted
 * agent) resets to 0, a fresh read; at most one query per {@link #MIN_GAP}, failed ones back off (100 ms doubling to
 * 5 s) and the next query after a failure reads afresh (a restarted agent's lower index would otherwise hold it a
 * whole wait). Nothing is pushed while queries fail, so watchers keep the last list; an empty answer is pushed
 * (scale to zero is real news, unlike in Kratos).
 *
 * <p>An empty answer may also mean that the ACL token may not read the service: Consul filters what a token may
 * not see without an error, and before 1.11 without even the {@code X-Consul-Results-Filtered-By-ACLs} header. So
 * the first empty answer of a service asks the agent, once, whether the token has {@code service:read} on it
 * ({@code /v1/internal/acl/authorize}), and a clear warning is logged once when it has not.
 */
final class ConsulWatch implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ConsulWatch.class);
    static final Duration MIN_GAP = Duration.ofMillis(50);
    static final Duration ROUND_GAP = Duration.ofSeconds(1);

    private final ConsulClient client;
    private final ScheduledExecutorService scheduler;
    private final ConsulConfig config;
    private final String description;
    private final int dedicatedSlots;
    private final Throttle reads;
    private final Set<String> aclAsked = ConcurrentHashMap.newKeySet();
    private final Set<String> aclWarned = ConcurrentHashMap.newKeySet();
    private volatile boolean aclUnavailable; // no ACLs on the agent, or an agent without the authorize endpoint

    private final Object lock = new Object();
    private final Set<Followed> shared = new LinkedHashSet<>(); // guarded by lock
    private int dedicated; // guarded by lock
    private Loop checksLoop; // guarded by lock; running while some service is shared
    private Loop servicesLoop; // guarded by lock
    private String nodeFingerprint; // touched by the checks loop only
    private boolean roundScheduled; // guarded by lock
    private long lastRound; // guarded by lock
    private boolean closed; // guarded by lock

    ConsulWatch(ConsulClient client, ScheduledExecutorService scheduler, ConsulConfig config, String description) {
        this.client = client;
        this.scheduler = scheduler;
        this.config = config;
        this.description = description;
        this.dedicatedSlots = dedicatedSlots(config.maxConnections());
        this.reads = new Throttle(Math.max(2, config.maxConnections() / 4));
    }

    /** Blocking queries of their own for this many services; the shared group holds two more. */
    static int dedicatedSlots(int maxConnections) {
        return Math.max(0, maxConnections / 2 - 2);
    }

    /**
     * Starts following a service: its own blocking query while a dedicated slot is free, else the shared group.
     *
     * @return the subscription; {@link Followed#awaitFirst} waits for its first list
     */
    Followed follow(String service, Consumer<List<ServiceInstance>> sink) {
        Followed f = new Followed(service, sink);
        boolean startShared = false;
        synchronized (lock) {
            if (closed) {
                f.closed = true;
                f.first.complete(null);
                return f;
            }
            if (dedicated < dedicatedSlots) {
                dedicated++;
                f.loop = new Loop("watching service '" + service + "'",
                        index -> client.health(service, config.passingOnly(), config.datacenter(), index,
                                config.queryWait()),
                        (reply, waitedOn) -> f.answered(reply), f::failed);
            } else {
                shared.add(f);
                if (checksLoop == null) {
                    checksLoop = new Loop("watching the checks of shared services",
                            index -> client.checks(checksFilter(), config.datacenter(), index, config.queryWait()),
                            (reply, waitedOn) -> checksAnswered(reply), e -> { });
                    servicesLoop = new Loop("watching the catalog's services",
                            index -> client.services(config.datacenter(), index, config.queryWait()),
                            this::servicesAnswered, e -> { });
                    startShared = true;
                }
            }
        }
        if (f.loop != null) {
            f.loop.start();
        } else {
            refresh(f); // the first list, at once
            if (startShared) {
                checksLoop.start();
                servicesLoop.start();
            }
            // A checks query in flight does not name the new service in its filter; it needs not be aborted (which
            // would cost a connection): any check change in the datacenter wakes it, the answer lacks the new
            // service's checks, which counts as a change for it (read again), and the next query names it.
        }
        return f;
    }

    private void remove(Followed f) {
        Loop stopChecks = null;
        Loop stopServices = null;
        synchronized (lock) {
            if (f.loop != null) {
                dedicated--;
            } else if (shared.remove(f) && shared.isEmpty()) {
                stopChecks = checksLoop;
                stopServices = servicesLoop;
                checksLoop = null;
                servicesLoop = null;
                nodeFingerprint = null;
            }
        }
        if (f.loop != null) {
            f.loop.close();
        }
        if (stopChecks != null) {
            stopChecks.close();
            stopServices.close();
        }
    }

    /** Stops every loop. */
    @Override
    public void close() {
        List<Loop> loops = new ArrayList<>();
        synchronized (lock) {
            closed = true;
            if (checksLoop != null) {
                loops.add(checksLoop);
                loops.add(servicesLoop);
            }
            checksLoop = null;
            servicesLoop = null;
            shared.forEach(f -> f.closed = true);
            shared.clear();
        }
        loops.forEach(Loop::close);
    }

    // ---- the shared group -----------------------------------------------------------------------------------

    /** A bexpr filter matching the checks of every shared service and the node-level checks. */
    private String checksFilter() {
        Set<String> names = new TreeSet<>();
        synchronized (lock) {
            shared.forEach(f -> names.add(f.service));
        }
        StringBuilder filter = new StringBuilder("ServiceName == \"\"");
        for (String name : names) {
            filter.append(" or ServiceName == \"").append(name.replace("\\", "\\\\").replace("\"", "\\\""))
                    .append('"');
        }
        return filter.toString();
    }

    /** Reads again the shared services whose checks changed (all of them when a node check changed). */
    private void checksAnswered(ConsulClient.Reply reply) throws Exception {
        if (!reply.ok()) {
            throw client.failure(reply, "watching the checks of shared services");
        }
        JsonNode root = ConsulFormat.JSON.readTree(reply.body);
        if (root == null || !root.isArray()) {
            throw new java.io.IOException("consul answered a checks query with something other than a JSON array");
        }
        Map<String, Set<String>> byService = new HashMap<>();
        for (JsonNode check : root) {
            byService.computeIfAbsent(ConsulFormat.text(check, "ServiceName"), k -> new TreeSet<>())
                    .add(ConsulFormat.text(check, "ServiceID") + '\0' + ConsulFormat.text(check, "CheckID") + '\0'
                            + ConsulFormat.text(check, "Status"));
        }
        String node = String.join("\n", byService.getOrDefault("", Set.of()));
        boolean nodeChanged = nodeFingerprint != null && !nodeFingerprint.equals(node);
        nodeFingerprint = node;
        List<Followed> members;
        synchronized (lock) {
            members = new ArrayList<>(shared);
        }
        for (Followed f : members) {
            String fingerprint = String.join("\n", byService.getOrDefault(f.service, Set.of()));
            if (nodeChanged || !fingerprint.equals(f.fingerprint)) {
                f.fingerprint = fingerprint; // null before: first sight, read once more in case we missed a change
                refresh(f);
            }
        }
    }

    /** Reads every shared service again when the catalog moved, or when the loop (re)started. */
    private void servicesAnswered(ConsulClient.Reply reply, long waitedOn) throws Exception {
        if (!reply.ok()) {
            throw client.failure(reply, "watching the catalog's services");
        }
        if (waitedOn == 0 || reply.index != waitedOn) {
            refreshAllSoon();
        }
    }

    /** A round of reads of every shared service, at most one per {@link #ROUND_GAP}. */
    private void refreshAllSoon() {
        long delay;
        synchronized (lock) {
            if (roundScheduled || closed) {
                return;
            }
            roundScheduled = true;
            delay = Math.max(0, lastRound + ROUND_GAP.toNanos() - System.nanoTime());
        }
        Runnable round = () -> {
            List<Followed> members;
            synchronized (lock) {
                roundScheduled = false;
                lastRound = System.nanoTime();
                members = new ArrayList<>(shared);
            }
            members.forEach(this::refresh);
        };
        try {
            scheduler.schedule(round, delay, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // shutting down
        }
    }

    /** A non-blocking read of one shared service; one at a time per service, so lists are never reordered. */
    private void refresh(Followed f) {
        synchronized (f) {
            if (f.refreshing) {
                f.again = true;
                return;
            }
            f.refreshing = true;
        }
        reads.run(() -> f.closed ? CompletableFuture.completedFuture(null)
                : client.health(f.service, config.passingOnly(), config.datacenter(), 0, null))
                .whenComplete((reply, error) -> {
                    if (!f.closed && reply != null && error == null) {
                        try {
                            f.answered(reply);
                        } catch (Exception e) {
                            f.refreshFailed(e);
                        }
                    } else if (!f.closed && error != null) {
                        f.refreshFailed(ConsulClient.asIo(error));
                    }
                    boolean again;
                    synchronized (f) {
                        f.refreshing = false;
                        again = f.again;
                        f.again = false;
                    }
                    if (again && !f.closed) {
                        refresh(f);
                    }
                });
    }

    // ---- ACL ------------------------------------------------------------------------------------------------

    /** After the first empty answer of a service: may the token read it at all? Asked once per service. */
    private void checkReadable(String service) {
        if (aclUnavailable || !aclAsked.add(service)) {
            return;
        }
        client.mayRead(service, config.datacenter()).whenComplete((reply, error) -> {
            if (error != null) {
                aclAsked.remove(service); // ask again on a later empty answer
                LOG.debug("{}: could not ask whether the token may read service '{}': {}", description, service,
                        error.toString());
                return;
            }
            if (reply.status == 401 || reply.status == 404 || reply.status == 405) {
                aclUnavailable = true; // "ACL support disabled", or an agent older than 1.9
                return;
            }
            if (!reply.ok()) {
                LOG.debug("{}: asking whether the token may read service '{}' answered HTTP {}", description,
                        service, reply.status);
                return;
            }
            try {
                JsonNode answer = ConsulFormat.JSON.readTree(reply.body);
                if (answer != null && answer.isArray() && answer.size() == 1
                        && !ConsulFormat.field(answer.get(0), "Allow").asBoolean(true)) {
                    warnFiltered(service);
                }
            } catch (java.io.IOException e) {
                LOG.debug("{}: unreadable answer to the ACL question for '{}': {}", description, service,
                        e.toString());
            }
        });
    }

    private void warnFiltered(String service) {
        if (aclWarned.add(service)) {
            LOG.warn("{}: the ACL token (option 'token'{}) may not read service '{}' (it lacks service:read): Consul"
                    + " answers with an empty list, so watchers of it see no instances", description,
                    config.token() == null ? ", none was given" : "", service);
        }
    }

    // ---- one watched service ----------------------------------------------------------------------------------

    /** One watched service: its sink, and its own loop or its state in the shared group. */
    final class Followed implements WatchHub.Subscription {
        final String service;
        private final Consumer<List<ServiceInstance>> sink;
        final CompletableFuture<Void> first = new CompletableFuture<>();
        Loop loop; // a dedicated query, or null when shared
        volatile String fingerprint; // shared: the checks last seen
        private boolean refreshing; // guarded by this
        private boolean again; // guarded by this
        private boolean seenEmpty;
        volatile boolean closed;

        Followed(String service, Consumer<List<ServiceInstance>> sink) {
            this.service = service;
            this.sink = sink;
        }

        void answered(ConsulClient.Reply reply) throws Exception {
            if (!reply.ok()) {
                throw client.failure(reply, "watching service '" + service + "'");
            }
            List<ServiceInstance> instances = ConsulFormat.instances(reply.body, service);
            if (reply.filteredByAcls) {
                warnFiltered(service);
            }
            if (instances.isEmpty() && !seenEmpty) {
                seenEmpty = true;
                checkReadable(service);
            }
            if (closed) {
                return;
            }
            try {
                sink.accept(instances);
            } catch (RuntimeException e) {
                LOG.warn("{}: delivering the list of service '{}' failed: {}", description, service, e.toString());
            }
            first.complete(null);
        }

        void failed(Throwable error) {
            boolean denied = error instanceof ConsulClient.ConsulHttpException
                    && ((ConsulClient.ConsulHttpException) error).denied();
            if (denied && !first.isDone()) {
                first.completeExceptionally(error);
            } else {
                first.complete(null);
            }
        }

        void refreshFailed(Exception error) {
            failed(error);
            LOG.debug("{}: reading service '{}' failed, keeping its last list: {}", description, service,
                    error.toString());
        }

        /**
         * Waits for the first answer, so that a watcher starts with a list and a refused token fails
         * {@code watch()}.
         *
         * @param timeout the longest wait; following goes on in any case
         * @throws ConsulClient.ConsulHttpException when the agent refused the first query with 401/403
         */
        void awaitFirst(Duration timeout) throws ConsulClient.ConsulHttpException, InterruptedException {
            try {
                first.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            } catch (ExecutionException e) {
                throw (ConsulClient.ConsulHttpException) e.getCause();
            } catch (TimeoutException e) {
                LOG.debug("{}: no first answer for '{}' within {}, watching on", description, service, timeout);
            }
        }

        /** Stops following the service and aborts its query in flight. */
        @Override
        public void close() {
            closed = true;
            first.complete(null);
            remove(this);
        }
    }

    // ---- the blocking-query loop ------------------------------------------------------------------------------

    /** What a loop does with an answer; throwing counts as a failed query. */
    @FunctionalInterface
    interface Answer {
        void accept(ConsulClient.Reply reply, long waitedOn) throws Exception;
    }

    /**
     * The index to wait on next, by Consul's rules.
     *
     * @param previous the index the last query waited on (0 for none)
     * @param returned the {@code X-Consul-Index} of its answer
     * @return 0 to start over when the index went backwards, at least 1 otherwise
     */
    static long nextIndex(long previous, long returned) {
        if (returned <= 0) {
            return 1;
        }
        return returned < previous ? 0 : returned;
    }

    /**
     * One blocking query after the other, by Consul's rules. One step runs at a time (each is started by the
     * completion of the previous request or by the scheduler), so the loop's own fields need no lock.
     */
    final class Loop {
        private final String what;
        private final LongFunction<CompletableFuture<ConsulClient.Reply>> query;
        private final Answer answer;
        private final Consumer<Throwable> onFailure;
        private final Backoff backoff = Backoff.defaults();
        private long index;
        private long waitedOn;
        private long started;
        private int failures;
        private volatile CompletableFuture<ConsulClient.Reply> inFlight;
        private volatile Future<?> next;
        private volatile boolean closed;

        Loop(String what, LongFunction<CompletableFuture<ConsulClient.Reply>> query, Answer answer,
             Consumer<Throwable> onFailure) {
            this.what = what;
            this.query = query;
            this.answer = answer;
            this.onFailure = onFailure;
        }

        void start() {
            query();
        }

        private void query() {
            if (closed) {
                return;
            }
            started = System.nanoTime();
            waitedOn = index;
            CompletableFuture<ConsulClient.Reply> request;
            try {
                request = query.apply(index);
            } catch (Throwable t) {
                request = CompletableFuture.failedFuture(t); // counted as a failed query: backoff, and on
            }
            inFlight = request;
            if (closed) {
                request.cancel(true);
                return;
            }
            request.whenComplete(this::answered);
        }

        private void answered(ConsulClient.Reply reply, Throwable error) {
            inFlight = null;
            if (closed) {
                return;
            }
            try {
                if (error != null) {
                    throw ConsulClient.asIo(error);
                }
                answer.accept(reply, waitedOn);
            } catch (Throwable t) {
                failed(t);
                return;
            }
            index = nextIndex(index, reply.index);
            if (failures > 0) {
                LOG.info("{}: {} again after {} failed quer{}", description, what, failures,
                        failures == 1 ? "y" : "ies");
            }
            failures = 0;
            backoff.reset();
            long gap = MIN_GAP.toNanos() - (System.nanoTime() - started);
            if (gap > 0) {
                schedule(gap);
            } else {
                query();
            }
        }

        private void failed(Throwable error) {
            failures++;
            index = 0;
            Duration delay = backoff.next();
            try {
                onFailure.accept(error);
            } catch (RuntimeException e) {
                LOG.debug("{}: {}: failure handler failed: {}", description, what, e.toString());
            }
            boolean denied = error instanceof ConsulClient.ConsulHttpException
                    && ((ConsulClient.ConsulHttpException) error).denied();
            String why = denied ? error.getMessage() + " (check the ACL token, option 'token')" : error.toString();
            if (error instanceof Error || error instanceof RuntimeException || error.getCause() instanceof Error) {
                LOG.error("{}: {} failed unexpectedly (attempt {}), retrying in {} ms", description, what, failures,
                        delay.toMillis(), error);
            } else if (failures == 1 || failures % 20 == 0) {
                LOG.warn("{}: {} failed (attempt {}), keeping the last list and retrying in {} ms: {}",
                        description, what, failures, delay.toMillis(), why);
            } else {
                LOG.debug("{}: {} failed (attempt {}): {}", description, what, failures, why);
            }
            schedule(delay.toNanos());
        }

        private void schedule(long delayNanos) {
            try {
                Future<?> step = scheduler.schedule(this::query, delayNanos, TimeUnit.NANOSECONDS);
                next = step;
                if (closed) {
                    step.cancel(false);
                }
            } catch (RejectedExecutionException e) {
                closed = true; // the registry is shutting down
            }
        }

        /** Stops the loop and aborts the query in flight. */
        void close() {
            closed = true;
            CompletableFuture<ConsulClient.Reply> request = inFlight;
            if (request != null) {
                request.cancel(true);
            }
            Future<?> step = next;
            if (step != null) {
                step.cancel(false);
            }
        }
    }

    /** Runs at most {@code permits} asynchronous tasks at once; the others wait their turn, in order. */
    static final class Throttle {
        private final ArrayDeque<Runnable> waiting = new ArrayDeque<>();
        private int free;

        Throttle(int permits) {
            this.free = permits;
        }

        <T> CompletableFuture<T> run(Supplier<CompletableFuture<T>> task) {
            CompletableFuture<T> result = new CompletableFuture<>();
            Runnable start = () -> {
                CompletableFuture<T> running;
                try {
                    running = task.get();
                } catch (Throwable t) {
                    running = CompletableFuture.failedFuture(t); // the permit comes back in any case
                }
                running.whenComplete((r, e) -> {
                    done();
                    if (e != null) {
                        result.completeExceptionally(e);
                    } else {
                        result.complete(r);
                    }
                });
            };
            boolean now;
            synchronized (this) {
                now = free > 0;
                if (now) {
                    free--;
                } else {
                    waiting.add(start);
                }
            }
            if (now) {
                start.run();
            }
            return result;
        }

        private void done() {
            Runnable next;
            synchronized (this) {
                next = waiting.poll();
                if (next == null) {
                    free++;
                }
            }
            if (next != null) {
                next.run();
            }
        }
    }
}
