package io.roster.select;

import io.roster.ServiceInstance;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;

/** The filters behind {@link Filter}'s factories. */
final class Filters {
    private Filters() {
    }

    static Filter keep(String description, Predicate<ServiceInstance> predicate) {
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(predicate, "predicate");
        return new Filter() {
            @Override
            public List<ServiceInstance> apply(List<ServiceInstance> instances) {
                return matching(instances, predicate);
            }

            @Override
            public String toString() {
                return description;
            }
        };
    }

    static Filter prefer(String key, String value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        Predicate<ServiceInstance> preferred = instance -> value.equals(instance.metadata().get(key));
        return new Filter() {
            @Override
            public List<ServiceInstance> apply(List<ServiceInstance> instances) {
                List<ServiceInstance> kept = matching(instances, preferred);
                return kept.isEmpty() ? instances : kept;
            }

            @Override
            public String toString() {
                return "prefer " + key + "=" + value;
            }
        };
    }

    private static List<ServiceInstance> matching(List<ServiceInstance> instances, Predicate<ServiceInstance> test) {
        List<ServiceInstance> kept = new ArrayList<>(instances.size());
        for (ServiceInstance instance : instances) {
            if (test.test(instance)) {
                kept.add(instance);
            }
        }
        return kept;
    }
}
