package io.roster.select;

import io.roster.ServiceInstance;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** Instances and pick counting for the selector tests. */
final class TestNodes {
    static final String SERVICE = "greeter";

    private TestNodes() {
    }

    /**
     * An instance of {@link #SERVICE} with a grpc endpoint derived from its number, and metadata pairs.
     */
    static ServiceInstance instance(int number, String... metadata) {
        ServiceInstance.Builder b = ServiceInstance.builder().name(SERVICE).id("i" + number).version("v1")
                .endpoint("grpc://10.0." + (number / 250) + "." + (number % 250 + 1) + ":9000")
                .endpoint("http://10.0." + (number / 250) + "." + (number % 250 + 1) + ":8000");
        for (int i = 0; i < metadata.length; i += 2) {
            b.metadata(metadata[i], metadata[i + 1]);
        }
        return b.build();
    }

    static List<ServiceInstance> instances(int count) {
        List<ServiceInstance> list = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            list.add(instance(i));
        }
        return list;
    }

    static Selector selector(Balancer balancer, List<ServiceInstance> instances) {
        Selector selector = Selector.builder(SERVICE, "grpc").balancer(balancer).build();
        selector.update(instances);
        return selector;
    }

    /** Picks {@code picks} times, completing each pick through {@code latency} (null: 1 ms), and counts by id. */
    static Map<String, Integer> count(Selector selector, int picks, Function<String, java.time.Duration> latency) {
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < picks; i++) {
            Selection s = selector.select();
            String id = s.instance().id();
            counts.merge(id, 1, Integer::sum);
            s.done(latency.apply(id), true);
        }
        return counts;
    }

    /** The ids of {@code picks} consecutive picks. */
    static List<String> sequence(Selector selector, int picks) {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < picks; i++) {
            ids.add(selector.select().instance().id());
        }
        return ids;
    }
}
