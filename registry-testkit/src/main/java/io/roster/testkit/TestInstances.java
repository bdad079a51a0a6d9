package io.roster.testkit;

import io.roster.ServiceInstance;

import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Instances and service names for tests: unique names, so that tests sharing a server do not see each other, and
 * distinct endpoint ports, so that backends keyed by {@code ip:port} (Eureka, Nacos) never merge two instances.
 */
public final class TestInstances {
    private static final AtomicInteger PORT = new AtomicInteger(20000);

    private TestInstances() {
    }

    /**
     * Returns a fresh service name.
     *
     * @param prefix a readable prefix, such as {@code greeter}
     * @return such as {@code greeter-3f9a1c2b}
     */
    public static String serviceName(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /**
     * Returns a builder for a typical instance: version {@code v1.0.0}, two metadata entries, and a {@code grpc}
     * and an {@code http} endpoint on 127.0.0.1 with ports no other call of this method returned.
     *
     * @param service the service name
     * @param id the instance id
     * @return a builder, to adjust or build
     */
    public static ServiceInstance.Builder instance(String service, String id) {
        int port = nextPort();
        return ServiceInstance.builder()
                .name(service)
                .id(id)
                .version("v1.0.0")
                .metadata("zone", "zone-a")
                .metadata("team", "core")
                .endpoint("grpc://127.0.0.1:" + port)
                .endpoint("http://127.0.0.1:" + (port + 1));
    }

    /**
     * Builds a typical instance.
     *
     * @param service the service name
     * @param id the instance id
     * @return the instance
     */
    public static ServiceInstance of(String service, String id) {
        return instance(service, id).build();
    }

    private static int nextPort() {
        return 20000 + Math.floorMod(PORT.getAndAdd(2) - 20000, 40000);
    }
}
