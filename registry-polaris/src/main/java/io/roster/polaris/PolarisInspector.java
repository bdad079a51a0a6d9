package io.roster.polaris;

import com.tencent.polaris.api.pojo.Instance;
import io.roster.InvalidInstanceException;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import io.roster.spi.InstanceJson;
import io.roster.spi.RegistryUri;

import java.net.URI;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;

/**
 * Reads a {@code polaris://} registry as stored, through the registry's own SDK context: every Polaris service of the
 * namespace (or those a name is read from: {@code <name>}, and {@code <name><scheme>} with {@code registrySchemes}),
 * and every instance of each, healthy or not, at {@code <namespace>/<service>/<Polaris instance id>}.
 *
 * <p>Kratos's {@code contrib/polaris} layout: one Polaris instance per endpoint, {@code protocol} = its scheme,
 * grouped by metadata {@code merge}; Roster adds {@code roster.part=<k>/<n>}, so that an instance whose endpoints are
 * not all there can be named. {@code contrib/registry/polaris} instances carry their scheme in metadata {@code kind}
 * instead. Besides what every layout shares, it names: a missing or unusable protocol (Go reads
 * {@code <protocol>://host:port}), weight 0 (Kratos's default, which starves the instance), an unhealthy or isolated
 * instance, one without a heartbeat health check (it never expires), and a {@code merge} group with endpoints missing,
 * disagreeing, or one endpoint twice.
 */
public final class PolarisInspector implements Inspector {

    /** Creates the inspector; called by {@link java.util.ServiceLoader}. */
    public PolarisInspector() {
    }

    @Override
    public String scheme() {
        return "polaris";
    }

    @Override
    public Optional<String> timeoutOption() {
        return Optional.of("timeout");
    }

    @Override
    public Inspection inspect(Registry registry, RegistryUri uri, String service) {
        if (!(registry instanceof PolarisRegistry)) {
            return Inspection.generic(registry, service, "not a PolarisRegistry", (done, total) -> { });
        }
        PolarisRegistry polaris = (PolarisRegistry) registry;
        Set<String> names = new TreeSet<>(service == null ? polaris.polarisServices() : polaris.services(service));
        Inspection.Builder builder = Inspection.builder("Polaris instances of namespace " + polaris.namespace()
                + " (namespace/service/instance id)");
        for (String name : names) {
            check(builder, polaris.namespace(), name, polaris.instances(name));
        }
        return builder.build();
    }

    /** One Polaris instance of a {@code merge} group written by Roster: where it is and what its part says. */
    private record Part(String location, int position, int count, String version, Map<String, String> metadata) {
    }

    /**
     * Checks the instances of one Polaris service.
     *
     * @param instances all of them, healthy or not
     */
    static void check(Inspection.Builder builder, String namespace, String service, List<Instance> instances) {
        Map<String, List<Part>> groups = new LinkedHashMap<>();
        for (Instance polaris : instances) {
            checkInstance(builder, namespace, service, polaris, groups);
        }
        groups.forEach((id, parts) -> checkParts(builder, service, id, parts));
    }

    private static void checkInstance(Inspection.Builder builder, String namespace, String service, Instance polaris,
                                      Map<String, List<Part>> groups) {
        String polarisId = text(polaris.getId());
        String location = namespace + "/" + service + "/"
                + (polarisId.isEmpty() ? text(polaris.getHost()) + ":" + polaris.getPort() : polarisId);
        String raw = text(polaris);
        if (!builder.serviceName(location, service)) {
            builder.record(location, service, raw, null);
            return;
        }
        Map<String, String> metadata = new TreeMap<>(PolarisLayout.metadata(polaris));
        String merge = metadata.remove(PolarisLayout.MERGE);
        String part = metadata.remove(PolarisLayout.PART);
        String kind = metadata.get(PolarisLayout.KIND);
        String protocol = text(polaris.getProtocol());
        String version = text(polaris.getVersion());
        Optional<URI> endpoint = endpoint(builder, location, polaris, merge != null, protocol, kind);
        if (merge == null && kind != null) {
            // contrib/registry/polaris: its kind and version keys are the layout's, not the instance's metadata
            metadata.remove(PolarisLayout.KIND);
            String metaVersion = metadata.remove(PolarisLayout.VERSION);
            version = version.isEmpty() && metaVersion != null ? metaVersion : version;
        }
        if (polaris.getWeight() == 0) {
            builder.problem(location, Inspection.Kind.ZERO_WEIGHT, "weight 0 (Kratos's default): Polaris's balancers "
                    + "never pick it and Kratos's weighted round robin starves it; give it metadata weight or the "
                    + "registry's weight option");
        }
        if (!polaris.isHealthy()) {
            builder.problem(location, Inspection.Kind.UNHEALTHY, "Polaris marks it unhealthy (no heartbeat within "
                    + "three TTLs): readers skip it");
        }
        if (polaris.isIsolated()) {
            builder.problem(location, Inspection.Kind.UNHEALTHY, "it is isolated: readers skip it");
        }
        if (!polaris.isEnableHealthCheck()) {
            builder.problem(location, Inspection.Kind.NO_EXPIRY, "it has no heartbeat health check (TTL): Polaris "
                    + "never marks it unhealthy, so it stays after its process is gone");
        }
        String id = merge != null && !merge.isBlank() ? merge : polarisId;
        ServiceInstance instance;
        try {
            ServiceInstance.Builder b = ServiceInstance.builder().name(service).id(id).version(version)
                    .metadata(metadata);
            endpoint.ifPresent(b::endpoint);
            instance = b.buildLenient();
        } catch (InvalidInstanceException e) {
            builder.record(location, service, raw, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                    "it does not make an instance: " + RegistryUri.redact(e.getMessage()));
            return;
        }
        if (merge == null || merge.isBlank()) {
            builder.instance(location, service, raw, instance); // a whole instance on its own
            return;
        }
        builder.record(location, service, raw, instance); // one endpoint of the instance its group makes
        if (part != null) {
            Matcher m = PolarisLayout.PART_VALUE.matcher(part);
            int position = m.matches() ? Integer.parseInt(m.group(1)) : 0;
            int count = m.matches() ? Integer.parseInt(m.group(2)) : 0;
            if (position < 1 || position > count) {
                builder.problem(location, Inspection.Kind.NOT_DECODABLE, PolarisLayout.PART + " '" + part + "' is not "
                        + "<k>/<n> with 1 <= k <= n: readers cannot put the instance's endpoints together");
            } else {
                groups.computeIfAbsent(merge, k -> new ArrayList<>())
                        .add(new Part(location, position, count, version, metadata));
            }
        }
    }

    /**
     * The endpoint readers build ({@link PolarisLayout#endpoint}), and what is wrong with it: Go's contrib/polaris
     * reads {@code <protocol>://host:port} (Roster falls back to metadata {@code kind}); contrib/registry/polaris
     * reads {@code <kind>://host:port}.
     */
    private static Optional<URI> endpoint(Inspection.Builder builder, String location, Instance polaris, boolean merged,
                                          String protocol, String kind) {
        Optional<URI> endpoint = PolarisLayout.endpoint(polaris, merged || kind == null ? null : kind);
        String host = text(polaris.getHost());
        String address = host + ":" + polaris.getPort();
        if (host.isBlank() || polaris.getPort() <= 0) {
            builder.problem(location, Inspection.Kind.BAD_ENDPOINT, "no host or port: readers drop it");
        } else if (protocol.isBlank() && (merged || kind == null)) {
            builder.problem(location, Inspection.Kind.BAD_ENDPOINT, "no protocol: Go Kratos reads ://" + address
                    + ", which no client dials" + (endpoint.isEmpty() ? "; readers drop it"
                    : " (Roster falls back to kind=" + kind + ")"));
        } else if (endpoint.isEmpty()) {
            String scheme = merged || kind == null ? protocol : kind;
            builder.problem(location, Inspection.Kind.BAD_ENDPOINT, "'" + scheme + "' is not a URI scheme: readers "
                    + "drop " + scheme + "://" + address);
        }
        return endpoint;
    }

    /** The endpoints of one Roster instance: all there, once each, agreeing on the count, version and metadata. */
    private static void checkParts(Inspection.Builder builder, String service, String id, List<Part> parts) {
        int count = parts.stream().mapToInt(Part::count).max().orElse(0);
        Map<Integer, String> seen = new TreeMap<>();
        for (Part part : parts) {
            String first = seen.putIfAbsent(part.position(), part.location());
            if (first != null) {
                builder.problem(part.location(), Inspection.Kind.DUPLICATE_ID, "endpoint " + part.position() + " of "
                        + "instance " + id + " is also registered at " + first + " (two processes with one id?)");
            }
        }
        List<String> why = new ArrayList<>();
        List<Integer> missing = new ArrayList<>();
        for (int k = 1; k <= count; k++) {
            if (!seen.containsKey(k)) {
                missing.add(k);
            }
        }
        if (!missing.isEmpty()) {
            why.add("endpoint(s) " + missing + " of " + count + " missing");
        }
        Set<Integer> counts = new TreeSet<>();
        Set<String> versions = new TreeSet<>();
        Set<Map<String, String>> metadata = new HashSet<>();
        parts.forEach(p -> {
            counts.add(p.count());
            versions.add(p.version());
            metadata.add(p.metadata());
        });
        if (counts.size() > 1) {
            why.add("its parts disagree on the number of endpoints " + counts);
        }
        if (versions.size() > 1 || metadata.size() > 1) {
            why.add("its parts disagree on the " + (versions.size() > 1 ? "version " + versions : "metadata"));
        }
        if (!why.isEmpty()) {
            for (Part part : parts) {
                builder.problem(part.location(), Inspection.Kind.PARTIAL_INSTANCE, "instance " + id + " of " + service
                        + ": " + String.join("; ", why) + " (Roster readers show it only once it is whole)");
            }
        }
    }

    /** The instance as the server keeps it, on one line; the service token is never part of it. */
    private static String text(Instance polaris) {
        return "id=" + text(polaris.getId()) + " host=" + text(polaris.getHost()) + " port=" + polaris.getPort()
                + " protocol=" + text(polaris.getProtocol()) + " version=" + text(polaris.getVersion())
                + " weight=" + polaris.getWeight() + " healthy=" + polaris.isHealthy() + " isolated="
                + polaris.isIsolated() + " healthCheck=" + polaris.isEnableHealthCheck() + " metadata="
                + InstanceJson.encodeMap(PolarisLayout.metadata(polaris));
    }

    private static String text(String s) {
        return s == null ? "" : s;
    }
}
