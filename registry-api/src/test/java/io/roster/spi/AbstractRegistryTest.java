package io.roster.spi;

import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.LogCapture;
import io.roster.RegistryClosedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

class AbstractRegistryTest {
    private final FakeRegistry fake = new FakeRegistry();

    @AfterEach
    void close() {
        fake.hook = (call, instance) -> { };
        fake.close();
    }

    private static ServiceInstance instance(String id) {
        return ServiceInstance.builder().name("svc").id(id).endpoint("grpc://10.0.0.1:9000").build();
    }

    // ---- null arguments ----

    @Test
    void nullArgumentsAreRefusedNamingTheField() throws InterruptedException {
        assertThatThrownBy(() -> fake.register(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class, e -> assertThat(e.field()).isEqualTo("instance"));
        assertThatThrownBy(() -> fake.deregister(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class, e -> assertThat(e.field()).isEqualTo("instance"));
        assertThatThrownBy(() -> fake.getService(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class, e -> assertThat(e.field()).isEqualTo("name"));
        assertThatThrownBy(() -> fake.watch(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class, e -> assertThat(e.field()).isEqualTo("name"));
        try (Watcher watcher = fake.watch("svc")) {
            assertThatThrownBy(() -> watcher.next(null))
                    .isInstanceOfSatisfying(InvalidOptionException.class,
                            e -> assertThat(e.option()).isEqualTo("timeout"));
            assertThat(watcher.next(Duration.ofDays(365 * 1000))).contains(List.of()); // no overflow either
        }
        assertThat(fake.calls).containsExactly("subscribe");
    }

    // ---- no JDK or client-library exception escapes unwrapped ----

    @Test
    void aClientLibraryExceptionFromRegisterIsWrappedNamingTheRegistryAndTheAction() {
        IllegalStateException bug = new IllegalStateException("client in a bad state");
        fake.hook = (call, instance) -> {
            throw bug;
        };
        assertThatThrownBy(() -> fake.register(instance("1")))
                .isExactlyInstanceOf(RegistryException.class)
                .hasMessage("register svc/1 failed on fake at 127.0.0.1:1: "
                        + "java.lang.IllegalStateException: client in a bad state")
                .hasCause(bug);
        fake.hook = (call, instance) -> { };
        assertThat(fake.getService("svc")).isEmpty(); // not booked as registered
    }

    @Test
    void ioLikeFailuresBecomeUnavailableFromEveryPublicMethod() {
        List<Exception> ioLike = List.of(new UncheckedIOException(new ConnectException("Connection refused")),
                new CompletionException(new TimeoutException("no answer")), new IOException("sneaky checked"),
                new RuntimeException("wrapped", new java.net.http.HttpTimeoutException("request timed out")));
        for (Exception failure : ioLike) {
            fake.hook = (call, instance) -> {
                throw failure;
            };
            assertThatThrownBy(() -> fake.register(instance("1"))).as(failure.toString())
                    .isInstanceOf(RegistryUnavailableException.class)
                    .hasMessageStartingWith("register svc/1 failed: fake at 127.0.0.1:1 is unavailable (")
                    .hasCause(failure);
            assertThatThrownBy(() -> fake.deregister(instance("1"))).as(failure.toString())
                    .isInstanceOf(RegistryUnavailableException.class).hasMessageStartingWith("deregister svc/1");
            assertThatThrownBy(() -> fake.getService("svc")).as(failure.toString())
                    .isInstanceOf(RegistryUnavailableException.class).hasMessageStartingWith("read service 'svc'");
            assertThatThrownBy(() -> fake.services()).as(failure.toString())
                    .isInstanceOf(RegistryUnavailableException.class).hasMessageStartingWith("list services");
            assertThatThrownBy(() -> fake.watch("svc")).as(failure.toString())
                    .isInstanceOf(RegistryUnavailableException.class).hasMessageStartingWith("watch service 'svc'");
        }
    }

    @Test
    void otherFailuresFromEveryPublicMethodAreRegistryExceptions() {
        fake.hook = (call, instance) -> {
            throw new IllegalArgumentException("port out of range:99999");
        };
        List<Runnable> calls = List.of(() -> fake.register(instance("1")), () -> fake.deregister(instance("1")),
                () -> fake.getService("svc"), fake::services, () -> fake.watch("svc"));
        for (Runnable call : calls) {
            assertThatThrownBy(call::run).isExactlyInstanceOf(RegistryException.class)
                    .hasMessageContaining("failed on fake at 127.0.0.1:1: java.lang.IllegalArgumentException")
                    .hasCauseInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void aWatchWhoseSubscriptionFailedLeavesNothingBehind() throws InterruptedException {
        AtomicInteger failures = new AtomicInteger(1);
        fake.hook = (call, instance) -> {
            if (call.equals("subscribe") && failures.getAndDecrement() > 0) {
                throw new NullPointerException("in the client");
            }
        };
        assertThatThrownBy(() -> fake.watch("svc")).isExactlyInstanceOf(RegistryException.class);
        try (Watcher watcher = fake.watch("svc")) {
            assertThat(watcher.next(Duration.ofSeconds(5))).contains(List.of());
        }
        assertThat(fake.calls).containsExactly("subscribe", "subscribe");
    }

    @Test
    void aWrappedFailureNeverShowsASecretTheClientPutInItsMessage() {
        fake.hook = (call, instance) -> {
            throw new IllegalStateException("GET http://user:S3cr3t@127.0.0.1:1/v1?token=S3cr3t failed");
        };
        assertThatThrownBy(() -> fake.getService("svc"))
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr3t").contains("http://***@127.0.0.1"));
    }

    @Test
    void getServiceServesTheWatchedListWhenTheClientFailsWithAnIoLikeException() throws InterruptedException {
        fake.register(instance("1"));
        try (Watcher watcher = fake.watch("svc")) {
            assertThat(watcher.next(Duration.ofSeconds(5))).contains(List.of(instance("1")));
            fake.hook = (call, instance) -> {
                throw new UncheckedIOException(new ConnectException("Connection refused"));
            };
            assertThat(fake.getService("svc")).containsExactly(instance("1"));
        }
    }

    @Test
    void aClientFailureWhileTheRegistryClosesIsReportedAsClosed() throws Exception {
        CountDownLatch inCall = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        fake.hook = (call, instance) -> {
            if (call.equals("getService")) {
                inCall.countDown();
                release.await();
                throw new IllegalStateException("client was closed");
            }
        };
        CompletableFuture<List<ServiceInstance>> read = CompletableFuture.supplyAsync(() -> fake.getService("svc"));
        assertThat(inCall.await(10, TimeUnit.SECONDS)).isTrue();
        fake.close();
        release.countDown();
        assertThatThrownBy(() -> read.get(10, TimeUnit.SECONDS))
                .hasCauseInstanceOf(RegistryClosedException.class)
                .hasMessageContaining("read service 'svc' failed: fake at 127.0.0.1:1 is closed");
    }

    // ---- close() twice ----

    @Test
    void aSecondCloseWaitsUntilTheFirstHasDeregisteredEverything() throws Exception {
        CountDownLatch deregistering = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        fake.register(instance("1"));
        fake.hook = (call, instance) -> {
            if (call.equals("deregister")) {
                deregistering.countDown();
                release.await(); // a slow backend
            }
        };
        Thread first = new Thread(fake::close, "main-close");
        first.start();
        assertThat(deregistering.await(10, TimeUnit.SECONDS)).isTrue();
        AtomicReference<Boolean> deregisteredWhenSecondReturned = new AtomicReference<>();
        Thread second = new Thread(() -> {
            fake.close();
            deregisteredWhenSecondReturned.set(fake.store.isEmpty() && fake.shutDown);
        }, "shutdown-hook-close");
        second.start();
        // The second close is parked waiting for the first, not returned.
        await().atMost(Duration.ofSeconds(10)).until(() -> second.getState() == Thread.State.TIMED_WAITING);
        assertThat(second.isAlive()).isTrue();

        release.countDown();
        second.join(10_000);
        first.join(10_000);
        assertThat(second.isAlive()).isFalse();
        assertThat(deregisteredWhenSecondReturned.get()).isTrue();
        assertThat(fake.calls).containsExactly("register 1", "deregister 1", "shutdown");
    }

    @Test
    void aSecondCloseReturnsAfterTheCloseTimeoutWhenTheFirstHangs() throws Exception {
        CountDownLatch deregistering = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        fake.closeTimeout = Duration.ofMillis(200);
        fake.register(instance("1"));
        fake.hook = (call, instance) -> {
            if (call.equals("deregister")) {
                deregistering.countDown();
                release.await();
            }
        };
        Thread first = new Thread(fake::close, "main-close");
        first.start();
        try (LogCapture log = LogCapture.start()) {
            assertThat(deregistering.await(10, TimeUnit.SECONDS)).isTrue();
            long start = System.nanoTime();
            fake.close();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(200));
            assertThat(first.isAlive()).isTrue();
            assertThat(log.text()).contains("close() by another thread still running after 200 ms");
        } finally {
            release.countDown();
            first.join(10_000);
        }
    }

    @Test
    void closeCalledByTheBackendDuringCloseDoesNotWaitForItself() {
        fake.register(instance("1"));
        fake.hook = (call, instance) -> {
            if (call.equals("deregister")) {
                fake.close(); // a callback on the closing thread
            }
        };
        long start = System.nanoTime();
        fake.close();
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(20));
        assertThat(fake.shutDown).isTrue();
    }

    @Test
    void closeCompletesAndLaterClosesReturnEvenWhenShutdownThrowsAnError() {
        fake.hook = (call, instance) -> {
            if (call.equals("shutdown")) {
                throw new OutOfMemoryError("simulated");
            }
        };
        assertThatThrownBy(fake::close).isInstanceOf(OutOfMemoryError.class);
        fake.hook = (call, instance) -> { };
        long start = System.nanoTime();
        fake.close();
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(20));
    }

    @Test
    void anErrorWhileDeregisteringOnCloseStillShutsTheBackendDown() {
        fake.register(instance("1"));
        fake.hook = (call, instance) -> {
            if (call.equals("deregister")) {
                throw new StackOverflowError("simulated");
            }
        };
        assertThatThrownBy(fake::close).isInstanceOf(StackOverflowError.class);
        assertThat(fake.shutDown).isTrue();
        assertThatThrownBy(() -> fake.getService("svc")).isInstanceOf(RegistryClosedException.class);
    }

    // ---- deregisterConcurrently ----

    @Test
    void deregisterConcurrentlyRunsInParallelBoundedAndWaitsOnce() throws Exception {
        int count = 12;
        for (int i = 0; i < count; i++) {
            fake.register(instance("i" + i));
        }
        AtomicInteger inFlight = new AtomicInteger();
        AtomicInteger maxInFlight = new AtomicInteger();
        CountDownLatch fourAtOnce = new CountDownLatch(4);
        Set<String> threads = ConcurrentHashMap.newKeySet();
        AtomicReference<List<ServiceInstance>> left = new AtomicReference<>();
        fake.deregisterAllOverride = all -> left.set(fake.deregisterConcurrently(all, 4, Duration.ofSeconds(30),
                instance -> {
                    maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                    threads.add(Thread.currentThread().getName());
                    fourAtOnce.countDown();
                    fourAtOnce.await(); // only returns once 4 run at the same time
                    if (instance.id().equals("i3")) {
                        inFlight.decrementAndGet();
                        throw new IOException("refused");
                    }
                    fake.store.remove(instance.id());
                    inFlight.decrementAndGet();
                }));
        fake.close();
        assertThat(maxInFlight.get()).isEqualTo(4);
        assertThat(threads).hasSize(4).allMatch(n -> n.startsWith("roster-fake-deregister-"));
        assertThat(left.get()).containsExactly(instance("i3"));
        assertThat(fake.store.keySet()).containsExactly("i3");
        awaitNoThreadNamed("roster-fake-deregister-");
    }

    @Test
    void deregisterConcurrentlyGivesUpAtTheTimeoutAndReportsWhatIsLeft() throws Exception {
        fake.register(instance("fast"));
        fake.register(instance("hung"));
        CountDownLatch never = new CountDownLatch(1);
        AtomicReference<List<ServiceInstance>> left = new AtomicReference<>();
        fake.deregisterAllOverride = all -> left.set(fake.deregisterConcurrently(all, 8, Duration.ofMillis(300),
                instance -> {
                    if (instance.id().equals("hung")) {
                        never.await(); // interrupted at the deadline
                    }
                }));
        long start = System.nanoTime();
        fake.close();
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(20));
        assertThat(left.get()).containsExactly(instance("hung"));
        awaitNoThreadNamed("roster-fake-deregister-");
    }

    /** The deregistration threads end by themselves; polls the thread table (there is no event to await). */
    private static void awaitNoThreadNamed(String prefix) {
        await().atMost(Duration.ofSeconds(10)).until(() -> Thread.getAllStackTraces().keySet().stream()
                .noneMatch(t -> t.isAlive() && t.getName().startsWith(prefix)));
    }
}
