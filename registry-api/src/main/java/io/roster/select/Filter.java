package io.roster.select;

import io.roster.ServiceInstance;

import java.util.List;
import java.util.function.Predicate;

/**
 * Narrows the candidates of a {@link Selector}. Filters run in the order given, once per instance list (never per
 * pick), on the instances that have an endpoint of the selector's scheme.
 *
 * <p>{@code toString()} describes the filter; {@link NoAvailableInstanceException} lists the descriptions when
 * nothing is left.
 */
public interface Filter {

    /**
     * Filters one list.
     *
     * @param instances the candidates, immutable, in list order
     * @return the instances kept, in the same order (a filter may return its argument)
     */
    List<ServiceInstance> apply(List<ServiceInstance> instances);

    /**
     * Keeps the instances of exactly one version, as Kratos's {@code filter.Version}.
     *
     * @param version the version, compared exactly
     * @return the filter
     */
    static Filter version(String version) {
        java.util.Objects.requireNonNull(version, "version");
        return Filters.keep("version=" + version, instance -> instance.version().equals(version));
    }

    /**
     * Keeps the instances whose metadata maps {@code key} to exactly {@code value}.
     *
     * @param key the metadata key
     * @param value the value required
     * @return the filter
     */
    static Filter metadata(String key, String value) {
        java.util.Objects.requireNonNull(key, "key");
        java.util.Objects.requireNonNull(value, "value");
        return Filters.keep("metadata " + key + "=" + value, instance -> value.equals(instance.metadata().get(key)));
    }

    /**
     * Prefers the instances whose metadata maps {@code key} to {@code value}, such as a zone: keeps them when there
     * is at least one, and keeps every instance otherwise, so that a client falls back to other zones instead of
     * failing.
     *
     * @param key the metadata key, such as {@code zone}
     * @param value the preferred value, such as {@code eu-west-1a}
     * @return the filter
     */
    static Filter prefer(String key, String value) {
        return Filters.prefer(key, value);
    }

    /**
     * Keeps the instances a predicate accepts.
     *
     * @param description what the predicate checks, for error messages (such as {@code "canary=false"})
     * @param predicate the test; called once per instance and instance list, from the thread updating the selector
     * @return the filter
     */
    static Filter matching(String description, Predicate<ServiceInstance> predicate) {
        return Filters.keep(description, predicate);
    }
}
