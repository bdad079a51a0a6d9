package io.roster.spi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Periodic tasks that survive their own failures. A {@link ScheduledExecutorService} silently cancels a periodic
 * task for good the first time it throws, so a heartbeat or lease renewal that hits one unexpected exception (or
 * an {@link OutOfMemoryError}) would stop without a trace. Tasks scheduled here catch any {@link Throwable} of one
 * run, log it at ERROR (the first of a series with its stack trace, then every 100th) and run again at the next
 * period.
 *
 * <pre>{@code
 * heartbeat = Periodic.atFixedRate(scheduler, "heartbeat on " + description(), period, period, this::beat);
 * }</pre>
 */
public final class Periodic {
    private static final Logger LOG = LoggerFactory.getLogger(Periodic.class);

    private Periodic() {
    }

    /**
     * Wraps a task so that no run throws: a failure is logged at ERROR and the next run goes ahead.
     *
     * @param what a short description for logs, such as {@code heartbeat on consul at 127.0.0.1:8500}
     * @param task the work of one run
     * @return a runnable that never throws
     */
    public static Runnable guard(String what, Runnable task) {
        AtomicInteger failures = new AtomicInteger();
        return () -> {
            try {
                task.run();
            } catch (Throwable e) {
                int n = failures.incrementAndGet();
                try {
                    if (n == 1 || n % 100 == 0) {
                        LOG.error("{}: run failed ({} in a row), running again next period", what, n,
                                Failures.redacted(e));
                    } else {
                        LOG.debug("{}: run failed ({} in a row): {}", what, n, Failures.describe(e));
                    }
                } catch (Throwable ignored) {
                    // Logging itself failed (out of memory, say): the task must still run next period.
                }
                return;
            }
            int failed = failures.getAndSet(0);
            if (failed > 0) {
                LOG.info("{}: runs again after {} failed run(s)", what, failed);
            }
        };
    }

    /**
     * Schedules a guarded task at a fixed rate ({@link ScheduledExecutorService#scheduleAtFixedRate}).
     *
     * @param scheduler the scheduler
     * @param what a short description for logs
     * @param initialDelay the delay before the first run
     * @param period the time between the starts of two runs
     * @param task the work of one run
     * @return the future, to cancel the task
     */
    public static ScheduledFuture<?> atFixedRate(ScheduledExecutorService scheduler, String what,
                                                 Duration initialDelay, Duration period, Runnable task) {
        return scheduler.scheduleAtFixedRate(guard(what, task), initialDelay.toNanos(), period.toNanos(),
                TimeUnit.NANOSECONDS);
    }

    /**
     * Schedules a guarded task with a fixed delay ({@link ScheduledExecutorService#scheduleWithFixedDelay}).
     *
     * @param scheduler the scheduler
     * @param what a short description for logs
     * @param initialDelay the delay before the first run
     * @param delay the time between the end of one run and the start of the next
     * @param task the work of one run
     * @return the future, to cancel the task
     */
    public static ScheduledFuture<?> withFixedDelay(ScheduledExecutorService scheduler, String what,
                                                    Duration initialDelay, Duration delay, Runnable task) {
        return scheduler.scheduleWithFixedDelay(guard(what, task), initialDelay.toNanos(), delay.toNanos(),
                TimeUnit.NANOSECONDS);
    }
}
