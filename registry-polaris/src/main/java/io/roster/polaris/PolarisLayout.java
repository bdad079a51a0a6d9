package io.roster.polaris;

import com.tencent.polaris.api.pojo.Instance;
import com.tencent.polaris.api.rpc.InstanceRegisterRequest;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import io.roster.spi.BadRecords;
import io.roster.spi.Endpoints;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How Roster instances are laid out on Polaris, both ways.
 *
 * <p>Writing is Kratos's {@code contrib/polaris} layout: one Polaris instance per endpoint, in service
 * {@code <name>}, with the endpoint's host and port, {@code protocol} = its scheme, the instance's version, weight =
 * metadata {@code weight} (an integer) or the registry's default, metadata = the instance's + {@code merge=<id>}
 * (Kratos writes a random UUID there; any value shared by the endpoints of one instance groups them) +
 * {@value #PART}{@code =<k>/<n>} (endpoint k of n, so that readers put the endpoints back in order; Go ignores it).
 *
 * <p>Reading groups a service's healthy, non-isolated Polaris instances by {@code merge} into one instance, id =
 * the {@code merge} value, with the endpoints {@code <protocol>://host:port} (metadata {@code kind} when the protocol
 * is empty). A Roster-written instance is shown once all its parts are there; while they disagree (an update
 * under way) a watcher keeps the last complete form. Instances without {@code merge} are one instance each, id =
 * the Polaris instance id. Kratos's other variant, {@code contrib/registry/polaris}, names its services
 * {@code <name><scheme>} and carries the scheme in metadata {@code kind}; {@link #readRegistryLayout} reads them.
 */
final class PolarisLayout {
    private static final Logger LOG = LoggerFactory.getLogger(PolarisLayout.class);

    /** Kratos's key grouping the Polaris instances of one instance. */
    static final String MERGE = "merge";
    /** Roster's key for the endpoint's position: {@code <k>/<n>}. */
    static final String PART = "roster.part";
    /** Kratos's key for the weight, an integer. */
    static final String WEIGHT = "weight";
    /** contrib/registry/polaris's keys for the scheme and the version. */
    static final String KIND = "kind";
    static final String VERSION = "version";

    static final Pattern PART_VALUE = Pattern.compile("(\\d{1,4})/(\\d{1,4})");
    private static final Pattern INTEGER = Pattern.compile("[0-9]{1,5}");
    /** Polaris's own limit on instance weights. */
    static final int MAX_WEIGHT = 10_000;

    private final int defaultWeight;

    /**
     * Creates the layout.
     *
     * @param defaultWeight the weight of instances without a {@code weight} metadata entry, 1–10000
     */
    PolarisLayout(int defaultWeight) {
        this.defaultWeight = defaultWeight;
    }

    /**
     * Checks the rules this layout adds to {@link ServiceInstance}'s own, before anything is written.
     *
     * @param instance the instance to register
     * @throws InvalidInstanceException naming the field and the rule
     */
    static void check(ServiceInstance instance) {
        if (instance.endpoints().isEmpty()) {
            throw new InvalidInstanceException("endpoints", "must not be empty on Polaris, where each endpoint is "
                    + "one Polaris instance", "");
        }
        for (String reserved : List.of(MERGE, PART)) {
            if (instance.metadata().containsKey(reserved)) {
                throw new InvalidInstanceException("metadata[" + reserved + "]", "is reserved on Polaris (written "
                        + "from the " + (reserved.equals(MERGE) ? "id" : "endpoint's position") + ")", "");
            }
        }
        String weight = instance.metadata().get(WEIGHT);
        if (weight != null && !(INTEGER.matcher(weight).matches() && Integer.parseInt(weight) <= MAX_WEIGHT)) {
            throw new InvalidInstanceException("metadata[weight]", "must be an integer from 0 to " + MAX_WEIGHT
                    + " on Polaris (the instance weight; Go Kratos reads it as an integer)",
                    "(was \"" + weight + "\")");
        }
        Map<String, URI> seen = new HashMap<>();
        for (URI endpoint : instance.endpoints()) {
            URI before = seen.put(Endpoints.hostPort(endpoint), endpoint);
            if (before != null) {
                throw new InvalidInstanceException("endpoints", "must not share a host and port on Polaris, where "
                        + "host and port identify an instance of a service", "(" + before + " and " + endpoint + ")");
            }
        }
    }

    /**
     * Lays an instance out as Polaris registrations, one per endpoint, in endpoint order.
     *
     * @param instance a checked instance
     * @param namespace the namespace
     * @param token the service token, or {@code null}
     * @param ttl the heartbeat TTL in seconds
     * @return the requests, without automatic heartbeats (the registry sends them)
     */
    List<InstanceRegisterRequest> parts(ServiceInstance instance, String namespace, String token, int ttl) {
        List<InstanceRegisterRequest> parts = new ArrayList<>();
        int count = instance.endpoints().size();
        String weight = instance.metadata().get(WEIGHT);
        for (int i = 0; i < count; i++) {
            URI endpoint = instance.endpoints().get(i);
            Map<String, String> metadata = new HashMap<>(instance.metadata());
            metadata.put(MERGE, instance.id());
            metadata.put(PART, (i + 1) + "/" + count);
            InstanceRegisterRequest request = new InstanceRegisterRequest();
            request.setNamespace(namespace);
            request.setService(instance.name());
            request.setToken(token);
            request.setHost(Endpoints.host(endpoint));
            request.setPort(endpoint.getPort());
            request.setProtocol(endpoint.getScheme());
            if (!instance.version().isEmpty()) {
                request.setVersion(instance.version());
            }
            request.setWeight(weight == null ? defaultWeight : Integer.parseInt(weight));
            request.setMetadata(metadata);
            request.setTtl(ttl);
            request.setAutoHeartbeat(false);
            parts.add(request);
        }
        return parts;
    }

    /**
     * Turns a Polaris service's instances (contrib/polaris layout) into Roster instances.
     *
     * @param name the requested name; every instance returned carries it
     * @param instances the service's instances, all of them; only healthy, non-isolated ones are read
     * @param previous the last result by id (a watcher's), kept for an instance whose parts disagree; empty for a
     *     one-shot read
     * @return the instances, in no particular order
     */
    static List<ServiceInstance> read(String name, List<Instance> instances, Map<String, ServiceInstance> previous) {
        Map<String, List<Instance>> groups = new LinkedHashMap<>();
        for (Instance polaris : instances) {
            if (!visible(polaris)) {
                continue;
            }
            String merge = metadata(polaris).get(MERGE);
            String key = merge != null && !merge.isBlank() ? merge : polaris.getId();
            if (key == null || key.isBlank()) {
                BadRecords.warnOnce(LOG, "Polaris service " + polaris.getService(), polaris.getHost() + ":"
                        + polaris.getPort(), "skipped: no merge key and no instance id");
                continue;
            }
            groups.computeIfAbsent(key, k -> new ArrayList<>()).add(polaris);
        }
        List<ServiceInstance> result = new ArrayList<>();
        groups.forEach((id, group) -> whole(name, id, group, previous).ifPresent(result::add));
        return result;
    }

    /** Only healthy, non-isolated instances are served, as Kratos's readers and Polaris's own consumers do. */
    static boolean visible(Instance polaris) {
        return polaris.isHealthy() && !polaris.isIsolated();
    }

    private static Optional<ServiceInstance> whole(String name, String id, List<Instance> group,
                                                   Map<String, ServiceInstance> previous) {
        List<int[]> positions = new ArrayList<>();
        boolean roster = true;
        for (Instance polaris : group) {
            Matcher m = PART_VALUE.matcher(metadata(polaris).getOrDefault(PART, ""));
            if (!m.matches()) {
                roster = false;
                break;
            }
            positions.add(new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))});
        }
        List<Instance> ordered = new ArrayList<>(group);
        if (roster) {
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < ordered.size(); i++) {
                order.add(i);
            }
            order.sort(Comparator.comparingInt(i -> positions.get(i)[0]));
            List<Instance> sorted = new ArrayList<>();
            boolean complete = true;
            for (int k = 0; k < order.size(); k++) {
                int[] p = positions.get(order.get(k));
                complete &= p[0] == k + 1 && p[1] == order.size();
                sorted.add(group.get(order.get(k)));
            }
            ordered = sorted;
            boolean consistent = sorted.stream().allMatch(p -> sameRecord(p, sorted.get(0)));
            if (!(complete && consistent)) {
                ServiceInstance last = previous.get(id);
                if (last != null) {
                    return Optional.of(last); // an update or a re-registration under way: keep the last whole form
                }
                if (!complete) {
                    return Optional.empty(); // some endpoints are not (or no longer) there
                }
            }
        }
        return build(name, id, ordered);
    }

    /** Whether two parts carry the same version and user metadata (they differ in position only). */
    private static boolean sameRecord(Instance a, Instance b) {
        Map<String, String> ma = metadata(a);
        Map<String, String> mb = metadata(b);
        ma.remove(PART);
        mb.remove(PART);
        return ma.equals(mb) && nullToEmpty(a.getVersion()).equals(nullToEmpty(b.getVersion()));
    }

    private static Optional<ServiceInstance> build(String name, String id, List<Instance> parts) {
        Instance first = parts.get(0);
        Map<String, String> metadata = metadata(first);
        metadata.remove(MERGE);
        metadata.remove(PART);
        ServiceInstance.Builder builder = ServiceInstance.builder().name(name).id(id)
                .version(nullToEmpty(first.getVersion())).metadata(metadata);
        int endpoints = 0;
        for (Instance part : parts) {
            Optional<URI> endpoint = endpoint(part, null);
            if (endpoint.isPresent()) {
                builder.endpoint(endpoint.get());
                endpoints++;
            } else {
                BadRecords.warnOnce(LOG, "Polaris service " + part.getService() + " instance " + part.getId(),
                        part.getProtocol() + "://" + part.getHost() + ":" + part.getPort(),
                        "endpoint skipped: no usable protocol, host and port");
            }
        }
        if (endpoints == 0) {
            return Optional.empty();
        }
        try {
            return Optional.of(builder.buildLenient());
        } catch (InvalidInstanceException e) {
            BadRecords.warnOnce(LOG, "Polaris service " + first.getService() + " instance " + id, metadata,
                    "skipped: " + e.getMessage());
            return Optional.empty();
        }
    }

    /**
     * Reads the services Kratos's {@code contrib/registry/polaris} writes for a name: {@code <name><scheme>} per
     * scheme, one Roster instance per Polaris instance (id = the Polaris instance id), scheme from metadata
     * {@code kind} (else the service's suffix), version from the version field (else metadata {@code version});
     * {@code kind} and {@code version} are left out of the metadata, as that variant adds them.
     *
     * @param name the requested name
     * @param scheme the scheme suffix of the service these instances come from
     * @param instances that service's instances
     * @return the visible instances
     */
    static List<ServiceInstance> readRegistryLayout(String name, String scheme, List<Instance> instances) {
        List<ServiceInstance> result = new ArrayList<>();
        for (Instance polaris : instances) {
            if (!visible(polaris)) {
                continue;
            }
            Map<String, String> metadata = metadata(polaris);
            String kind = metadata.remove(KIND);
            String metaVersion = metadata.remove(VERSION);
            String version = polaris.getVersion() != null && !polaris.getVersion().isEmpty() ? polaris.getVersion()
                    : nullToEmpty(metaVersion);
            Optional<URI> endpoint = endpoint(polaris, kind != null && !kind.isBlank() ? kind : scheme);
            String source = "Polaris service " + polaris.getService() + " instance " + polaris.getId();
            if (endpoint.isEmpty()) {
                BadRecords.warnOnce(LOG, source, polaris.getHost() + ":" + polaris.getPort(),
                        "skipped: no usable scheme, host and port");
                continue;
            }
            try {
                result.add(ServiceInstance.builder().name(name).id(polaris.getId()).version(version)
                        .metadata(metadata).endpoint(endpoint.get()).buildLenient());
            } catch (InvalidInstanceException e) {
                BadRecords.warnOnce(LOG, source, metadata, "skipped: " + e.getMessage());
            }
        }
        return result;
    }

    /** {@code <protocol>://host:port}, the protocol falling back to metadata {@code kind}, then to a default. */
    static Optional<URI> endpoint(Instance polaris, String fallback) {
        String scheme = fallback != null ? fallback : polaris.getProtocol();
        if (scheme == null || scheme.isBlank()) {
            scheme = metadata(polaris).get(KIND);
        }
        String host = polaris.getHost();
        if (scheme == null || host == null || host.isBlank()) {
            return Optional.empty();
        }
        String h = host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host;
        return Endpoints.lenient(scheme + "://" + h + ":" + polaris.getPort());
    }

    /** An instance's metadata without null keys or values, a copy the caller may change. */
    static Map<String, String> metadata(Instance polaris) {
        Map<String, String> metadata = new HashMap<>();
        if (polaris.getMetadata() != null) {
            polaris.getMetadata().forEach((k, v) -> {
                if (k != null && v != null) {
                    metadata.put(k, v);
                }
            });
        }
        return metadata;
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }
}
