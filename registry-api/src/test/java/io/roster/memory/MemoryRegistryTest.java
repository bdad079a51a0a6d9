package io.roster.memory;

import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

class MemoryRegistryTest {
    private final String store = "mem-test-" + UUID.randomUUID();

    @Test
    void registriesOfOneNameShareTheirInstancesAndOthersDoNot() {
        ServiceInstance i = ServiceInstance.builder().name("svc").id("1").build();
        try (MemoryRegistry a = MemoryRegistry.builder().name(store).build();
             Registry b = Registries.open("mem://" + store);
             Registry other = Registries.open("mem://" + store + "-other")) {
            a.register(i);
            assertThat(b.getService("svc")).containsExactly(i);
            assertThat(other.getService("svc")).isEmpty();
        }
    }

    @Test
    void aKilledRegistrysInstancesExpireWithItsLease() throws InterruptedException {
        MemoryRegistry victim = MemoryRegistry.builder().name(store).ttl(Duration.ofMillis(300)).build();
        try (Registry observer = MemoryRegistry.builder().name(store).ttl(Duration.ofMillis(300)).build();
             Watcher watcher = observer.watch("svc")) {
            victim.register(ServiceInstance.builder().name("svc").id("v").build());
            assertThat(watcher.next(Duration.ofSeconds(1)).orElseThrow()).hasSize(1);
            victim.kill();
            // Still there right after the kill: nothing was deregistered.
            assertThat(observer.getService("svc")).hasSize(1);
            assertThat(watcher.next(Duration.ofSeconds(2))).contains(List.of());
        }
    }

    @Test
    void aLiveRegistryKeepsItsInstancesPastTheTtl() {
        try (MemoryRegistry registry = MemoryRegistry.builder().name(store).ttl(Duration.ofMillis(150)).build()) {
            registry.register(ServiceInstance.builder().name("svc").id("alive").build());
            long until = System.nanoTime() + Duration.ofMillis(600).toNanos();
            await().pollInterval(Duration.ofMillis(20)).atMost(Duration.ofSeconds(2)).until(() -> {
                assertThat(registry.getService("svc")).hasSize(1);
                return System.nanoTime() > until;
            });
        }
    }

    @Test
    void anExpiredLeaseIsGrantedAgainAndItsInstancesComeBackForWatchersOnAnotherRegistry()
            throws InterruptedException {
        ServiceInstance a = ServiceInstance.builder().name("svc").id("a").build();
        ServiceInstance b = ServiceInstance.builder().name("svc").id("b").build();
        try (MemoryRegistry registrar = MemoryRegistry.builder().name(store).ttl(Duration.ofMillis(600)).build();
             Registry observer = MemoryRegistry.builder().name(store).build();
             Watcher watcher = observer.watch("svc")) {
            registrar.register(a);
            registrar.register(b);
            awaitList(watcher, List.of(a, b));
            long expired = registrar.lease();

            registrar.store().revoke(expired); // the lease is gone, as after a stall longer than the TTL

            awaitList(watcher, List.of());
            awaitList(watcher, List.of(a, b));
            assertThat(observer.getService("svc")).containsExactly(a, b);
            assertThat(registrar.lease()).isNotEqualTo(expired);
        }
    }

    @Test
    void aRenewalStalledPastTheTtlLosesNoInstanceForGood() throws InterruptedException {
        ServiceInstance a = ServiceInstance.builder().name("svc").id("a").build();
        try (MemoryRegistry registrar = MemoryRegistry.builder().name(store).ttl(Duration.ofMillis(300)).build();
             Registry observer = MemoryRegistry.builder().name(store).build();
             Watcher watcher = observer.watch("svc")) {
            registrar.register(a);
            awaitList(watcher, List.of(a));

            CountDownLatch stall = new CountDownLatch(1);
            registrar.store().scheduler().execute(() -> {
                try {
                    stall.await(); // the renewal thread of a loaded machine
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            try {
                await().atMost(Duration.ofSeconds(10)).until(() -> observer.getService("svc").isEmpty());
                registrar.store().expire(); // another registry's tick reaped the lease before ours could renew it
                awaitList(watcher, List.of());
            } finally {
                stall.countDown();
            }

            awaitList(watcher, List.of(a));
            assertThat(observer.getService("svc")).containsExactly(a);
        }
    }

    private static void awaitList(Watcher watcher, List<ServiceInstance> expected) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        List<ServiceInstance> last = null;
        while (System.nanoTime() < deadline) {
            Optional<List<ServiceInstance>> next = watcher.next(Duration.ofNanos(deadline - System.nanoTime()));
            if (next.isEmpty()) {
                break;
            }
            last = next.get();
            if (last.equals(expected)) {
                return;
            }
        }
        throw new AssertionError("watcher never saw " + expected + ", last " + last);
    }

    @Test
    void builderNullsAndBadValuesAreRefusedNamingTheOption() {
        assertThatThrownBy(() -> MemoryRegistry.builder().name(null))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("name"));
        assertThatThrownBy(() -> MemoryRegistry.builder().ttl(null))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("ttl"));
        assertThatThrownBy(() -> MemoryRegistry.builder().ttl(Duration.ZERO))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("ttl"));
    }

    @Test
    void theSchedulerThreadEndsWithTheLastRegistryOfAStore() {
        String name = store + "-threads";
        MemoryRegistry a = MemoryRegistry.builder().name(name).build();
        MemoryRegistry b = MemoryRegistry.builder().name(name).build();
        a.close();
        assertThat(schedulerAlive(name)).isTrue();
        b.close();
        await().atMost(Duration.ofSeconds(5)).until(() -> !schedulerAlive(name));
    }

    private static boolean schedulerAlive(String name) {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.isAlive() && t.getName().startsWith("roster-mem-" + name + "-"));
    }
}
