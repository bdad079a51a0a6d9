package io.roster.spi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A task that runs until it succeeds: each {@link #trigger()} asks for a run; a failed run is retried after a
 * {@link Backoff} delay, without a ceiling on attempts, until one succeeds or the task is closed. Triggers that
 * arrive while a run is pending coalesce; one that arrives during a run causes one more run after it, because
 * whatever prompted it may not have been seen by the run in progress.
 *
 * <p>This is how backends re-register after losing a lease, a session or an agent: the attempt re-does the whole
 * registration, and the loop never gives up (Kratos's etcd registrar stops after five tries, #3883). An attempt
 * that throws anything, an {@link Error} such as {@link OutOfMemoryError} included, counts as failed: it is
 * logged (an {@code Error} at ERROR with its stack trace) and retried after the backoff delay.
 */
public final class RetryTask implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RetryTask.class);

    /** One attempt; throwing anything (an {@link Error} too) means it failed and will be retried. */
    @FunctionalInterface
    public interface Attempt {
        /**
         * Runs the attempt.
         *
         * @throws Exception when it failed
         */
        void run() throws Exception;
    }

    private enum State { IDLE, SCHEDULED, RUNNING, RUNNING_AGAIN, CLOSED }

    private final String what;
    private final ScheduledExecutorService scheduler;
    private final Backoff backoff;
    private final Attempt attempt;
    private State state = State.IDLE;
    private ScheduledFuture<?> pending;
    private int failures;

    /**
     * Creates the task; nothing runs until {@link #trigger()}.
     *
     * @param what a short description for logs, such as {@code re-register on etcd}
     * @param scheduler runs the attempts; shared with the backend's other work
     * @param backoff the delays between failed attempts
     * @param attempt the work
     */
    public RetryTask(String what, ScheduledExecutorService scheduler, Backoff backoff, Attempt attempt) {
        this.what = what;
        this.scheduler = scheduler;
        this.backoff = backoff;
        this.attempt = attempt;
    }

    /**
     * Asks for a run as soon as possible (immediately when idle; after the backoff delay when the last run
     * failed and a retry is already scheduled).
     */
    public synchronized void trigger() {
        switch (state) {
            case IDLE:
                schedule(Duration.ZERO);
                break;
            case RUNNING:
                state = State.RUNNING_AGAIN;
                break;
            default:
                break;
        }
    }

    /**
     * Tells whether a run is scheduled or in progress.
     *
     * @return true until the last triggered run has succeeded
     */
    public synchronized boolean isBusy() {
        return state != State.IDLE && state != State.CLOSED;
    }

    /**
     * Stops the task: no run starts after this; a run in progress finishes.
     */
    @Override
    public synchronized void close() {
        state = State.CLOSED;
        if (pending != null) {
            pending.cancel(false);
        }
    }

    private void schedule(Duration delay) {
        state = State.SCHEDULED;
        try {
            pending = scheduler.schedule(this::runOnce, delay.toNanos(), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            state = State.CLOSED; // the owner is shutting down
        }
    }

    private void runOnce() {
        synchronized (this) {
            if (state != State.SCHEDULED) {
                return;
            }
            state = State.RUNNING;
        }
        Throwable failure = null;
        try {
            attempt.run();
        } catch (Throwable e) {
            // Anything, an Error included: a task left RUNNING would ignore every later trigger() for good.
            failure = e;
        } finally {
            finish(failure);
        }
    }

    private synchronized void finish(Throwable failure) {
        if (state == State.CLOSED) {
            return;
        }
        if (failure == null) {
            int failed = failures;
            failures = 0;
            backoff.reset();
            if (state == State.RUNNING_AGAIN) {
                schedule(Duration.ZERO);
            } else {
                state = State.IDLE;
            }
            if (failed > 0) {
                LOG.info("{}: succeeded after {} failed attempt(s)", what, failed);
            }
            return;
        }
        failures++;
        Duration delay = backoff.next();
        // Reschedule before logging, so that a logger that fails (out of memory, say) cannot stop the task.
        schedule(delay);
        if (!(failure instanceof Exception)) {
            LOG.error("{}: attempt {} failed unexpectedly, retrying in {} ms", what, failures, delay.toMillis(),
                    Failures.redacted(failure));
        } else if (failures == 1 || failures % 20 == 0) {
            LOG.warn("{}: attempt {} failed, retrying in {} ms: {}", what, failures, delay.toMillis(),
                    Failures.describe(failure));
        } else {
            LOG.debug("{}: attempt {} failed: {}", what, failures, Failures.describe(failure));
        }
    }
}
