package io.roster.cli;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Periodic;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Demo data for {@code --seed} on a {@code mem://} store, so that the command shows something on a fresh machine:
 * registered through a registry of its own on the same store, gone when the command ends.
 */
final class Seed implements AutoCloseable {
    private final Registry registry;
    private ScheduledExecutorService churn;

    private Seed(Registry registry) {
        this.registry = registry;
    }

    /** Registers greeter (two instances), billing and reports (no endpoint, which check reports). */
    static Seed into(Registry registry) {
        Seed seed = new Seed(registry);
        registry.register(ServiceInstance.builder().name("greeter").id("greeter-1").version("v1.2.0")
                .metadata("zone", "eu-west-1a").endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000")
                .build());
        registry.register(ServiceInstance.builder().name("greeter").id("greeter-2").version("v1.2.0")
                .metadata("zone", "eu-west-1b").endpoint("grpc://10.0.0.6:9000").endpoint("http://10.0.0.6:8000")
                .build());
        registry.register(ServiceInstance.builder().name("billing").id("billing-1").version("v3.0.1")
                .endpoint("http://10.0.0.7:8080").build());
        registry.register(ServiceInstance.builder().name("reports").id("reports-1").version("v0.9.0").build());
        return seed;
    }

    /**
     * Keeps one instance of the service changing, for {@code watch}: added, updated, removed, every
     * {@code period}, until closed.
     */
    void churn(String service, Duration period) {
        churn = DaemonThreadFactory.scheduler("roster-cli-seed");
        AtomicInteger step = new AtomicInteger();
        Periodic.atFixedRate(churn, "change the demo instance of " + service, period, period, () -> {
            ServiceInstance.Builder demo = ServiceInstance.builder().name(service).id(service + "-demo")
                    .endpoint("grpc://10.0.0.9:9000");
            switch (step.getAndIncrement() % 3) {
                case 0 -> registry.register(demo.version("v1.0.0").build());
                case 1 -> registry.register(demo.version("v1.1.0").metadata("canary", "true").build());
                default -> registry.deregister(demo.version("v1.1.0").metadata("canary", "true").build());
            }
        });
    }

    @Override
    public void close() {
        if (churn != null) {
            churn.shutdownNow();
            try {
                churn.awaitTermination(5, TimeUnit.SECONDS); // a change under way ends before the registry closes
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        registry.close();
    }
}
