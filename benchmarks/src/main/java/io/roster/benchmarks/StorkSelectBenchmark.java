package io.roster.benchmarks;

import io.smallrye.stork.api.LoadBalancer;
import io.smallrye.stork.api.ServiceInstance;
import io.smallrye.stork.impl.DefaultServiceInstance;
import io.smallrye.stork.impl.RoundRobinLoadBalancer;
import io.smallrye.stork.loadbalancer.poweroftwochoices.PowerOfTwoChoicesConfiguration;
import io.smallrye.stork.loadbalancer.poweroftwochoices.PowerOfTwoChoicesLoadBalancerProvider;
import io.smallrye.stork.loadbalancer.random.RandomConfiguration;
import io.smallrye.stork.loadbalancer.random.RandomLoadBalancerProvider;
import io.smallrye.stork.loadbalancer.requests.LeastRequestsLoadBalancer;
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
 * The workload of {@link RosterSelectBenchmark} on SmallRye Stork's load balancers, called directly with the same
 * static list (what Stork's {@code Service.selectInstanceAndRecordStart} does after its service discovery
 * returned): {@code selectServiceInstance} plus {@code recordStart}/{@code recordEnd} when the chosen instance
 * gathers statistics.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class StorkSelectBenchmark {

    /** The Stork load balancer under test. */
    @Param({"random", "round-robin", "power-of-two-choices", "least-requests"})
    public String balancer;

    /** The number of instances listed. */
    @Param({"10", "100", "1000"})
    public int instances;

    private LoadBalancer loadBalancer;
    private List<ServiceInstance> list;

    /** Builds the load balancer and the list. */
    @Setup
    public void setUp() {
        loadBalancer = loadBalancer(balancer);
        list = new ArrayList<>(instances);
        for (int i = 0; i < instances; i++) {
            list.add(new DefaultServiceInstance(i, RosterSelectBenchmark.host(i), 9000, false));
        }
        list = List.copyOf(list);
    }

    private static LoadBalancer loadBalancer(String name) {
        switch (name) {
            case "random":
                return new RandomLoadBalancerProvider().createLoadBalancer(new RandomConfiguration(), null);
            case "round-robin":
                return new RoundRobinLoadBalancer();
            case "power-of-two-choices":
                return new PowerOfTwoChoicesLoadBalancerProvider()
                        .createLoadBalancer(new PowerOfTwoChoicesConfiguration(), null);
            case "least-requests":
                return new LeastRequestsLoadBalancer();
            default:
                throw new IllegalArgumentException("unknown balancer " + name);
        }
    }

    /**
     * One pick and its completion, on one thread.
     *
     * @param blackhole takes the instance, so that the pick is not optimised away
     */
    @Benchmark
    @Threads(1)
    public void oneThread(Blackhole blackhole) {
        pickAndComplete(blackhole);
    }

    /**
     * One pick and its completion, on each of two threads sharing the load balancer.
     *
     * @param blackhole takes the instance, so that the pick is not optimised away
     */
    @Benchmark
    @Threads(2)
    public void twoThreads(Blackhole blackhole) {
        pickAndComplete(blackhole);
    }

    private void pickAndComplete(Blackhole blackhole) {
        ServiceInstance instance = loadBalancer.selectServiceInstance(list);
        if (instance.gatherStatistics()) {
            instance.recordStart(true);
            instance.recordEnd(null);
        }
        blackhole.consume(instance);
    }
}
