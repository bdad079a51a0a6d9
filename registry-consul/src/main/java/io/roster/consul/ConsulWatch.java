package io.roster.consul;

import io.roster.ServiceInstance;
import io.roster.spi.Backoff;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Follows one service with Consul blocking queries on {@code /v1/health/service/<name>}, each an asynchronous
 * request: no thread waits while the agent holds a query. Each answer is pushed, whole, into the sink.
 *
 * <p>Consul's rules for blocking queries (api-docs/features/blocking, "Implementation Details"):
 * <ul>
 *   <li>the next query waits on the {@code X-Consul-Index} of the last answer;</li>
 *   <li>0 is never waited on after the first answer: an index of 0 or less waits on 1;</li>
 *   <li>an index lower than the previous one (restored snapshot, restarted agent) resets to 0, a fresh read;</li>
 *   <li>queries are rate-limited: at most one per {@link #MIN_GAP}, and failed ones back off (100 ms doubling to
 *       5 s). After a failure the next query uses index 0: the agent may have restarted with a lower index, on
 *       which a blocking query would wait a whole {@code wait} before the reset above could happen.</li>
 * </ul>
 * Nothing is pushed while queries fail, so watchers keep the last list; an empty answer is pushed (scale to zero
 * is real news, unlike in Kratos).
 *
 * <p>One step of the loop runs at a time (each is started by the completion of the previous request or by the
 * scheduler), so the loop's own fields need no lock.
 */
final class ConsulWatch implements WatchHub.Subscription {
    private static final Logger LOG = LoggerFactory.getLogger(ConsulWatch.class);
    static final Duration MIN_GAP = Duration.ofMillis(50);

    private final String service;
    private final Consumer<List<ServiceInstance>> sink;
    private final ConsulClient client;
    private final ScheduledExecutorService scheduler;
    private final ConsulConfig config;
    private final String description;
    private final Backoff backoff = Backoff.defaults();
    private final CompletableFuture<Void> first = new CompletableFuture<>();
    private long index;
    private long started;
    private int failures;
    private boolean warnedFiltered;
    private volatile Future<?> pending; // the request in flight, or the scheduled next step
    private volatile boolean closed;

    ConsulWatch(String service, Consumer<List<ServiceInstance>> sink, ConsulClient client,
                ScheduledExecutorService scheduler, ConsulConfig config, String description) {
        this.service = service;
        this.sink = sink;
        this.client = client;
        this.scheduler = scheduler;
        this.config = config;
        this.description = description;
    }

    /** Sends the first query. */
    void start() {
        query();
    }

    /**
     * Waits for the first answer, so that a watcher starts with a list and a refused token fails {@code watch()}.
     *
     * @param timeout the longest wait; the loop goes on in any case
     * @throws ConsulClient.ConsulHttpException when the agent refused the first query with 403
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

    private void query() {
        if (closed) {
            return;
        }
        started = System.nanoTime();
        CompletableFuture<ConsulClient.Reply> request = client.healthAsync(service, config.passingOnly(),
                config.datacenter(), index, config.queryWait());
        pending = request;
        if (closed) {
            request.cancel(true);
            return;
        }
        request.whenComplete(this::answered);
    }

    private void answered(ConsulClient.Reply reply, Throwable error) {
        if (closed) {
            return;
        }
        List<ServiceInstance> instances;
        try {
            if (error != null) {
                throw error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            }
            if (!reply.ok()) {
                throw client.failure(reply, "watching service '" + service + "'");
            }
            instances = ConsulFormat.instances(reply.body, service);
        } catch (Throwable t) {
            failed(t);
            return;
        }
        index = nextIndex(index, reply.index);
        if (reply.filteredByAcls && !warnedFiltered) {
            warnedFiltered = true;
            LOG.warn("{}: results for service '{}' are filtered by ACLs: the token (option 'token') may lack"
                    + " service:read", description, service);
        }
        if (failures > 0) {
            LOG.info("{}: watching service '{}' again after {} failed quer{}", description, service, failures,
                    failures == 1 ? "y" : "ies");
        }
        failures = 0;
        backoff.reset();
        try {
            sink.accept(instances);
        } catch (RuntimeException e) {
            LOG.warn("{}: delivering the list of service '{}' failed: {}", description, service, e.toString());
        }
        first.complete(null);
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
        boolean denied = error instanceof ConsulClient.ConsulHttpException
                && (((ConsulClient.ConsulHttpException) error).status == 403
                || ((ConsulClient.ConsulHttpException) error).status == 401);
        if (denied && !first.isDone()) {
            first.completeExceptionally(error);
        } else {
            first.complete(null);
        }
        String why = denied ? error.getMessage() + " (check the ACL token, option 'token')" : error.toString();
        if (failures == 1 || failures % 20 == 0) {
            LOG.warn("{}: watching service '{}' failed (attempt {}), keeping the last list and retrying in {} ms: {}",
                    description, service, failures, delay.toMillis(), why);
        } else {
            LOG.debug("{}: watching service '{}' failed (attempt {}): {}", description, service, failures, why);
        }
        schedule(delay.toNanos());
    }

    private void schedule(long delayNanos) {
        try {
            Future<?> next = scheduler.schedule(this::query, delayNanos, TimeUnit.NANOSECONDS);
            pending = next;
            if (closed) {
                next.cancel(false);
            }
        } catch (RejectedExecutionException e) {
            closed = true; // the registry is shutting down
        }
    }

    /** Stops the loop and aborts the query in flight. */
    @Override
    public void close() {
        closed = true;
        first.complete(null);
        Future<?> p = pending;
        if (p != null) {
            p.cancel(true);
        }
    }
}
