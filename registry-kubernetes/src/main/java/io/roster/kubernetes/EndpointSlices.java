package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.ObjectReference;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.ForZone;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import io.roster.spi.Endpoints;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The read-only service mode: a Kubernetes Service's EndpointSlices ({@code discovery.k8s.io/v1}) as instances, for
 * services that nobody registered through Roster or Kratos.
 *
 * <ul>
 *   <li>one instance per ready endpoint (condition {@code ready} true or unset, as the API asks consumers to read
 *       it; terminating endpoints are not ready), id = its first address;</li>
 *   <li>its endpoints {@code <scheme>://<address>:<port>} for each port of the slice, the scheme being the port name up
 *       to the first {@code -} ({@code grpc-api} → {@code grpc}, as for pods), else the port's
 *       {@code appProtocol}, else its protocol in lower case ({@code tcp});</li>
 *   <li>version = the Service's label {@code app.kubernetes.io/version} (else empty); metadata = the Service's labels,
 *       then {@code namespace}, {@code zone}, {@code node}, {@code pod} (the target pod's name) and {@code hints}
 *       (the zones of the endpoint's topology hints, comma-separated) of the endpoint.</li>
 * </ul>
 */
final class EndpointSlices {
    private static final Logger LOG = LoggerFactory.getLogger(EndpointSlices.class);

    /** The label the EndpointSlice controller puts on every slice of a Service. */
    static final String SERVICE_NAME = "kubernetes.io/service-name";
    static final String VERSION_LABEL = "app.kubernetes.io/version";
    private static final Pattern SCHEME = Pattern.compile("[a-z][a-z0-9+.-]*");
    private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();

    private EndpointSlices() {
    }

    /**
     * Reads one slice's instances.
     *
     * @param slice the slice
     * @param service its Service, or null when there is none (the instances then have no Service labels)
     * @param name the service name
     * @return instances keyed by {@code <slice key>|<address>}, in slice order
     */
    static Map<String, ServiceInstance> read(EndpointSlice slice, Service service, String name) {
        Map<String, ServiceInstance> instances = new LinkedHashMap<>();
        if (slice.getEndpoints() == null) {
            return instances;
        }
        String sliceKey = key(slice);
        for (Endpoint endpoint : slice.getEndpoints()) {
            if (isReady(endpoint)) {
                instance(slice, endpoint, service, name, why -> skip(slice, why))
                        .ifPresent(i -> instances.put(sliceKey + "|" + i.id(), i));
            }
        }
        return instances;
    }

    /**
     * Reads one endpoint of a slice, ready or not.
     *
     * @param dropped told why a port or the endpoint is left out
     * @return its instance; empty when it has no address, or no port makes a usable endpoint
     */
    static Optional<ServiceInstance> instance(EndpointSlice slice, Endpoint endpoint, Service service, String name,
                                              Consumer<String> dropped) {
        if (endpoint.getAddresses() == null || endpoint.getAddresses().isEmpty()) {
            return Optional.empty();
        }
        String address = endpoint.getAddresses().get(0);
        List<URI> endpoints = endpoints(slice, address, dropped);
        if (endpoints.isEmpty()) {
            return Optional.empty(); // a slice without ports has nothing to connect to
        }
        Map<String, String> serviceLabels = service == null || service.getMetadata().getLabels() == null ? Map.of()
                : service.getMetadata().getLabels();
        Map<String, String> metadata = new LinkedHashMap<>();
        serviceLabels.forEach((k, v) -> {
            if (v != null) {
                metadata.put(k, v);
            }
        });
        metadata.put("namespace", slice.getMetadata().getNamespace());
        put(metadata, "zone", endpoint.getZone());
        put(metadata, "node", endpoint.getNodeName());
        ObjectReference target = endpoint.getTargetRef();
        put(metadata, "pod", target != null && "Pod".equals(target.getKind()) ? target.getName() : null);
        if (endpoint.getHints() != null && endpoint.getHints().getForZones() != null
                && !endpoint.getHints().getForZones().isEmpty()) {
            put(metadata, "hints", endpoint.getHints().getForZones().stream().map(ForZone::getName)
                    .collect(Collectors.joining(",")));
        }
        try {
            return Optional.of(ServiceInstance.builder()
                    .id(address)
                    .name(name)
                    .version(serviceLabels.getOrDefault(VERSION_LABEL, ""))
                    .metadata(metadata)
                    .endpoints(endpoints)
                    .buildLenient());
        } catch (InvalidInstanceException e) {
            dropped.accept("endpoint " + address + " is skipped: " + e.getMessage());
            return Optional.empty();
        }
    }

    /** Whether a slice has an endpoint that {@link #read} would list. */
    static boolean hasReadyEndpoint(EndpointSlice slice) {
        return slice.getEndpoints() != null && slice.getPorts() != null
                && slice.getPorts().stream().anyMatch(p -> p.getPort() != null)
                && slice.getEndpoints().stream().anyMatch(EndpointSlices::isReady);
    }

    /** The Service a slice belongs to, by its label. */
    static String serviceName(EndpointSlice slice) {
        Map<String, String> labels = slice.getMetadata().getLabels();
        return labels == null ? null : labels.get(SERVICE_NAME);
    }

    static boolean isReady(Endpoint endpoint) {
        return endpoint.getAddresses() != null && !endpoint.getAddresses().isEmpty()
                && (endpoint.getConditions() == null || !Boolean.FALSE.equals(endpoint.getConditions().getReady()));
    }

    private static List<URI> endpoints(EndpointSlice slice, String address, Consumer<String> dropped) {
        List<URI> endpoints = new ArrayList<>();
        if (slice.getPorts() == null) {
            return endpoints;
        }
        for (EndpointPort port : slice.getPorts()) {
            if (port.getPort() == null) {
                continue; // "all ports": nothing to connect to
            }
            String scheme = scheme(port);
            try {
                Endpoints.lenient(Endpoints.of(scheme, address, port.getPort()).toString()).ifPresentOrElse(
                        endpoints::add, () -> dropped.accept("port " + port.getPort() + " of " + address
                                + " is not a usable endpoint; it is ignored"));
            } catch (IllegalArgumentException e) {
                dropped.accept("port " + port.getPort() + " of " + address + " is not a usable endpoint; it is "
                        + "ignored");
            }
        }
        return endpoints;
    }

    /** The port name up to the first '-', else the appProtocol, else the protocol ({@code tcp}). */
    static String scheme(EndpointPort port) {
        return Optional.ofNullable(port.getName()).map(n -> n.split("-", 2)[0].toLowerCase(Locale.ROOT))
                .filter(s -> SCHEME.matcher(s).matches())
                .or(() -> Optional.ofNullable(port.getAppProtocol()).map(a -> a.toLowerCase(Locale.ROOT))
                        .filter(s -> SCHEME.matcher(s).matches()))
                .orElseGet(() -> Optional.ofNullable(port.getProtocol()).orElse("TCP").toLowerCase(Locale.ROOT));
    }

    static String key(EndpointSlice slice) {
        return slice.getMetadata().getNamespace() + "/" + slice.getMetadata().getName();
    }

    private static void put(Map<String, String> metadata, String key, String value) {
        if (value != null && !value.isEmpty()) {
            metadata.put(key, value);
        }
    }

    private static void skip(EndpointSlice slice, String why) {
        if (LOGGED.size() > 10_000) {
            LOGGED.clear();
        }
        if (LOGGED.add(key(slice) + '\u0000' + slice.getMetadata().getResourceVersion() + '\u0000' + why)) {
            LOG.warn("Kubernetes EndpointSlice {}: {}", key(slice), why);
        }
    }
}
