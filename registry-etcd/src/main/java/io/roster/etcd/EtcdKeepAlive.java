package io.roster.etcd;

import io.etcd.jetcd.lease.LeaseKeepAliveResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Keeps one lease alive: a renewal every third of the TTL, each on a LeaseKeepAlive stream of its own, and another
 * one as soon as an answer is late.
 *
 * <p>Why not jetcd's KeepAlive stream: it stays on one member. When that member freezes (a stopped VM, a long
 * GC pause: no RST, the TCP connection looks alive), the stream waits for answers that never come; jetcd gives up
 * only after a whole TTL, when the lease has expired already, and gRPC's own keepalive needs 10 s (its minimum)
 * plus a timeout to drop the connection. Here a renewal unanswered after a tenth of the TTL is sent again on a
 * new stream, which the client's round-robin balancer gives to the next member (and again every twentieth of the
 * TTL while none answers), so a healthy member renews the lease well before it can expire: for a TTL of 5 s, a
 * frozen member delays a renewal by about 0.5 s. A renewal stuck on the frozen member ends with its gRPC deadline
 * (the registry's timeout).
 *
 * <p>Never blocks: renewals are asynchronous, and the ticks run on a thread of their own, so that no slow request
 * elsewhere in the registry can delay a renewal.
 */
final class EtcdKeepAlive implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdKeepAlive.class);
    /**
     * Renewals unanswered at once. Ours end with their deadline (the timeout: with TTL 5 s and timeout 5 s about
     * three wait on a frozen member at a time); this bounds the streams left waiting by a client given by the
     * caller, whose calls have no deadline.
     */
    private static final int MAX_PENDING = 16;

    private final EtcdConnection etcd;
    private final long lease;
    private final String leaseHex;
    private final long ttlNanos;
    private final long periodNanos;
    private final long hedgeNanos;
    private final Consumer<String> onLost;
    private final ScheduledFuture<?> ticks;

    // Guarded by this.
    private long renewedAt; // System.nanoTime() when the last renewal that etcd confirmed was sent
    private long sentAt;
    private int pending;
    private boolean overdueReported;
    private boolean goneReported;
    private boolean closed;

    /**
     * Starts keeping a lease alive.
     *
     * @param etcd the connection
     * @param lease the lease, granted when {@code grantedAt} was read
     * @param grantedAt {@link System#nanoTime()} just before the lease was granted
     * @param ttl the TTL etcd granted
     * @param scheduler runs the ticks; must not run anything that blocks
     * @param onLost told (once per cause) when etcd says the lease is gone, or when no renewal was confirmed for
     *     a whole TTL (the lease may have expired); renewing goes on until {@link #close()}
     */
    EtcdKeepAlive(EtcdConnection etcd, long lease, long grantedAt, Duration ttl, ScheduledExecutorService scheduler,
                  Consumer<String> onLost) {
        this.etcd = etcd;
        this.lease = lease;
        this.leaseHex = Long.toHexString(lease);
        this.ttlNanos = ttl.toNanos();
        this.periodNanos = ttlNanos / 3;
        this.hedgeNanos = Math.min(Math.max(ttlNanos / 10, TimeUnit.MILLISECONDS.toNanos(200)),
                TimeUnit.SECONDS.toNanos(2));
        this.onLost = onLost;
        this.renewedAt = grantedAt;
        this.ticks = scheduler.scheduleWithFixedDelay(this::tick, hedgeNanos / 2, hedgeNanos / 2,
                TimeUnit.NANOSECONDS);
    }

    long lease() {
        return lease;
    }

    private void tick() {
        try {
            long now = System.nanoTime();
            boolean send;
            boolean overdue = false;
            synchronized (this) {
                if (closed) {
                    return;
                }
                if (now - renewedAt > ttlNanos && !overdueReported) {
                    overdueReported = true;
                    overdue = true;
                }
                boolean due = now - renewedAt >= periodNanos;
                // The first late answer waits a tenth of the TTL, later ones half that: when other calls share
                // the round-robin, a new stream may land on the frozen member again, so try often.
                boolean late = pending > 0 && now - sentAt >= (pending == 1 ? hedgeNanos : hedgeNanos / 2);
                send = due && (pending == 0 || late) && pending < MAX_PENDING;
                if (send) {
                    pending++;
                    sentAt = now;
                }
            }
            if (overdue) {
                onLost.accept("no renewal confirmed for a TTL");
            }
            if (send) {
                renew(now);
            }
        } catch (Throwable t) {
            // Never let one tick end the schedule.
            LOG.error("{}: renewing lease {} failed unexpectedly", etcd.description(), leaseHex, t);
        }
    }

    private void renew(long sent) {
        CompletableFuture<LeaseKeepAliveResponse> renewal;
        try {
            renewal = etcd.client().getLeaseClient().keepAliveOnce(lease);
        } catch (RuntimeException e) {
            done(sent, null, e); // a closed client throws
            return;
        }
        renewal.whenComplete((response, error) -> done(sent, response, error));
    }

    private void done(long sent, LeaseKeepAliveResponse response, Throwable error) {
        String lost = null;
        synchronized (this) {
            pending--;
            if (closed) {
                return;
            }
            if (error == null && response.getTTL() > 0) {
                if (sent - renewedAt > 0) {
                    renewedAt = sent; // etcd renewed it after this instant
                }
                overdueReported = false;
            } else if (error == null || EtcdConnection.isLeaseNotFound(error)) {
                if (!goneReported) {
                    goneReported = true;
                    lost = "etcd answered: lease not found";
                }
            } else {
                LOG.debug("{}: renewing lease {} failed: {}", etcd.description(), leaseHex, error.toString());
            }
        }
        if (lost != null) {
            onLost.accept(lost);
        }
    }

    /** Stops renewing; a renewal under way may still reach etcd. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        ticks.cancel(false);
    }
}
