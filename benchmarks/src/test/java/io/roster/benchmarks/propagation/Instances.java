package io.roster.benchmarks.propagation;

import io.roster.ServiceInstance;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The instances the harness writes: a random UUID as id, so that each lands at a random place in the sorted list
 * as real ids do, and one {@code grpc} endpoint on a host no other instance has (Eureka keys instances by host and
 * port). About 200 bytes of Kratos JSON each.
 */
final class Instances {
    private static final AtomicInteger HOSTS = new AtomicInteger(1);

    private Instances() {
    }

    /**
     * Returns a fresh service name.
     *
     * @param prefix a readable prefix
     * @return such as {@code bench-10-3f9a1c2b}
     */
    static String service(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /**
     * Builds a new instance.
     *
     * @param service the service name
     * @return the instance
     */
    static ServiceInstance next(String service) {
        int h = HOSTS.getAndIncrement();
        return ServiceInstance.builder()
                .name(service)
                .id(UUID.randomUUID().toString())
                .version("v1.0.0")
                .metadata("zone", "zone-a")
                .endpoint("grpc://10." + (h >>> 16 & 255) + "." + (h >>> 8 & 255) + "." + (h & 255) + ":9000")
                .build();
    }

    /**
     * Builds new instances.
     *
     * @param service the service name
     * @param count how many
     * @return the instances
     */
    static List<ServiceInstance> many(String service, int count) {
        List<ServiceInstance> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            out.add(next(service));
        }
        return out;
    }
}
