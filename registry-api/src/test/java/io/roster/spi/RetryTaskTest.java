package io.roster.spi;

import io.roster.LogCapture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class RetryTaskTest {
    private final ScheduledExecutorService scheduler = DaemonThreadFactory.scheduler("roster-test-retry");

    @AfterEach
    void stop() {
        scheduler.shutdownNow();
    }

    private static Backoff fast() {
        return new Backoff(Duration.ofMillis(1), Duration.ofMillis(5));
    }

    @Test
    void retriesWithoutACeilingUntilSuccess() {
        AtomicInteger attempts = new AtomicInteger();
        RetryTask task = new RetryTask("test", scheduler, fast(), () -> {
            if (attempts.incrementAndGet() < 50) {
                throw new IllegalStateException("not yet");
            }
        });
        task.trigger();
        await().until(() -> !task.isBusy());
        assertThat(attempts).hasValue(50);
    }

    @Test
    void triggersCoalesceButATriggerDuringARunRunsAgain() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        CountDownLatch inRun = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        RetryTask task = new RetryTask("test", scheduler, fast(), () -> {
            if (runs.incrementAndGet() == 1) {
                inRun.countDown();
                release.await();
            }
        });
        task.trigger();
        inRun.await();
        task.trigger();
        task.trigger();
        task.trigger();
        release.countDown();
        await().until(() -> !task.isBusy());
        assertThat(runs).hasValue(2);
    }

    @Test
    void closeStopsRetrying() throws InterruptedException {
        AtomicInteger attempts = new AtomicInteger();
        RetryTask task = new RetryTask("test", scheduler, new Backoff(Duration.ofMillis(20), Duration.ofMillis(20)),
                () -> {
                    attempts.incrementAndGet();
                    throw new IllegalStateException("down");
                });
        task.trigger();
        await().until(() -> attempts.get() >= 2);
        task.close();
        int seen = attempts.get();
        scheduler.shutdown();
        assertThat(scheduler.awaitTermination(1, TimeUnit.SECONDS)).isTrue();
        assertThat(attempts.get()).isLessThanOrEqualTo(seen + 1);
        assertThat(task.isBusy()).isFalse();
    }

    @Test
    void anErrorThrownByOneAttemptIsLoggedAtErrorAndRetried() throws Exception {
        AtomicInteger attempts = new AtomicInteger();
        RetryTask task = new RetryTask("re-register after an Error", scheduler, fast(), () -> {
            if (attempts.incrementAndGet() == 1) {
                throw new OutOfMemoryError("simulated");
            }
        });
        try (LogCapture log = LogCapture.start()) {
            task.trigger();
            await().atMost(Duration.ofSeconds(10)).until(() -> attempts.get() == 2 && !task.isBusy());
            assertThat(log.text()).contains("ERROR", "re-register after an Error: attempt 1 failed",
                    "java.lang.OutOfMemoryError: simulated");
        }
        // Still alive: a later trigger runs again.
        task.trigger();
        await().atMost(Duration.ofSeconds(10)).until(() -> attempts.get() == 3 && !task.isBusy());
    }

    @Test
    void aPeriodicTaskKeepsRunningAfterAnyThrowable() {
        AtomicInteger runs = new AtomicInteger();
        try (LogCapture log = LogCapture.start()) {
            ScheduledFuture<?> future = Periodic.atFixedRate(scheduler, "renewal", Duration.ZERO,
                    Duration.ofMillis(5), () -> {
                        int n = runs.incrementAndGet();
                        if (n == 1) {
                            throw new OutOfMemoryError("simulated");
                        }
                        if (n == 3 || n == 4) { // a second series of failures, after a good run
                            throw new IllegalStateException("unexpected",
                                    new IOException("GET http://user:S3cr3t@10.0.0.1:8500/v1?token=S3cr3t"));
                        }
                    });
            await().atMost(Duration.ofSeconds(10)).until(() -> runs.get() >= 6);
            future.cancel(false);
            assertThat(log.text()).contains("ERROR", "java.lang.OutOfMemoryError: simulated",
                    "renewal: runs again after 1 failed run(s)", "renewal: runs again after 2 failed run(s)",
                    "Caused by: java.io.IOException: GET http://***@10.0.0.1:8500/v1?token=***",
                    "at io.roster.spi.RetryTaskTest")
                    .doesNotContain("S3cr3t");
            assertThat(log.lines("renewal: run failed (1 in a row)")).isEqualTo(2); // once per series at ERROR
            assertThat(log.lines("renewal: run failed (2 in a row)")).isZero();
        }
    }

    @Test
    void backoffDoublesWithJitterUpToTheMaximumAndResets() {
        Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofMillis(1000));
        long[] bases = {100, 200, 400, 800, 1000, 1000, 1000};
        for (long base : bases) {
            assertThat(backoff.next().toMillis()).isBetween((long) (base * 0.8), (long) (base * 1.2));
        }
        backoff.reset();
        assertThat(backoff.next().toMillis()).isBetween(80L, 120L);
    }
}
