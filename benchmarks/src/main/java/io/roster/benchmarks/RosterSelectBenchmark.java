package io.roster.benchmarks;

import io.roster.ServiceInstance;
import io.roster.select.Balancer;
import io.roster.select.Selection;
import io.roster.select.Selector;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.infra.Blackhole;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code select()} plus completion on an {@link io.roster.select.Selector} over a static list, per balancer and list
 * size (10, 100, 1 000), on one and two threads sharing the selector, written as the Javadoc recommends
 * (try-with-resources, {@code done(true)}). {@link StorkSelectBenchmark} runs the same workload on SmallRye Stork's
 * load balancers. Run with {@code -prof gc} for the bytes allocated per pick (docs/benchmarks.md).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class RosterSelectBenchmark {

    /** The balancer under test. */
    @Param({"random", "round-robin", "weighted-round-robin", "power-of-two-choices", "least-requests"})
    public String balancer;

    /** The number of instances listed. */
    @Param({"10", "100", "1000"})
    public int instances;

    private Selector selector;

    /** Builds the selector and feeds it the list once. */
    @Setup
    public void setUp() {
        selector = Selector.builder("greeter", "grpc").balancer(balancer(balancer)).build();
        selector.update(instances(instances));
    }

    /**
     * The same list for both libraries: instance {@code i} at {@code 10.x.y.z:9000}, ids in order, weights 50 to 200
     * so that weighted round-robin has real work.
     *
     * @param count how many
     * @return the instances, sorted by id as a watcher delivers them
     */
    static List<ServiceInstance> instances(int count) {
        List<ServiceInstance> list = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            list.add(ServiceInstance.builder().name("greeter").id(String.format("%05d", i))
                    .metadata("weight", Integer.toString(50 * (1 + i % 4)))
                    .endpoint("grpc://" + host(i) + ":9000").build());
        }
        return list;
    }

    static String host(int i) {
        return "10.0." + (i / 250) + "." + (i % 250 + 1);
    }

    private static Balancer balancer(String name) {
        switch (name) {
            case "random":
                return Balancer.random();
            case "round-robin":
                return Balancer.roundRobin();
            case "weighted-round-robin":
                return Balancer.weightedRoundRobin();
            case "power-of-two-choices":
                return Balancer.powerOfTwoChoices();
            case "least-requests":
                return Balancer.leastRequests();
            default:
                throw new IllegalArgumentException("unknown balancer " + name);
        }
    }

    /**
     * One pick and its completion, on one thread.
     *
     * @param blackhole takes the selection, so that neither the pick nor an allocation can be optimised away
     */
    @Benchmark
    @Threads(1)
    public void oneThread(Blackhole blackhole) {
        pickAndComplete(blackhole);
    }

    /**
     * One pick and its completion, on each of two threads sharing the selector.
     *
     * @param blackhole takes the selection, so that neither the pick nor an allocation can be optimised away
     */
    @Benchmark
    @Threads(2)
    public void twoThreads(Blackhole blackhole) {
        pickAndComplete(blackhole);
    }

    /** The documented use: try-with-resources, done on success. */
    private void pickAndComplete(Blackhole blackhole) {
        try (Selection selection = selector.select()) {
            blackhole.consume(selection); // the selection escapes, as it does in real code
            selection.done(true);
        }
    }
}
