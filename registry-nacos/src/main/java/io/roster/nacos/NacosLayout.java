package io.roster.nacos;

import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.alibaba.nacos.api.naming.utils.NamingUtils;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import io.roster.spi.Endpoints;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * How Roster instances are laid out on Nacos, both ways. Writing is Kratos's layout (contrib/registry/nacos): one
 * ephemeral Nacos instance per endpoint, in service {@code <name>.<scheme>}, with the endpoint's ip and port, weight
 * from metadata {@code weight} (else the default), metadata = user metadata + {@code kind=<scheme>} +
 * {@code version=<version>}, plus two Roster keys that Go Kratos ignores: {@value #INSTANCE_KEY} =
 * {@code <id>#<position>/<count>} and {@value #SCHEMES_KEY} = the schemes of all the instance's endpoints in order
 * ({@code grpc,tcp}), so that readers can put an instance back together whatever schemes they read.
 *
 * <p>Reading a bare name merges the {@code <name>.<scheme>} services of the reader's discovery schemes back into
 * one instance per Roster id. Which parts make an instance whole is decided by what the writer wrote, never by the
 * reader's scheme list alone: the reader expects the positions whose scheme (per {@value #SCHEMES_KEY}) it reads,
 * and shows the instance once exactly those are visible, with those endpoints in order; an endpoint in a scheme it
 * does not read neither hides the instance nor shows. While the parts disagree (an update or removal under way, one
 * service pushed before the other) a watcher keeps the instance's last whole form. Instances without the Roster key
 * (written by Go Kratos or plain nacos-client) appear one per Nacos instance, with the id Go computes (the Nacos
 * instance id). Reading {@code <name>.<scheme>} directly returns that service only.
 *
 * <p>Reading is lenient ({@link ServiceInstance.Builder#buildLenient()}): versions with spaces, empty metadata
 * keys and names such as {@code _private.svc} are kept as written; a record without a usable ip and port is
 * skipped and logged once.
 */
final class NacosLayout {
    private static final Logger LOG = LoggerFactory.getLogger(NacosLayout.class);

    /** The metadata key that carries the Roster id and the endpoint's position: {@code <id>#<position>/<count>}. */
    static final String INSTANCE_KEY = "roster.instance";
    /** The metadata key that lists the scheme of each of the instance's endpoints, in order: {@code grpc,http}. */
    static final String SCHEMES_KEY = "roster.schemes";
    /** Kratos's metadata key for the endpoint's scheme. */
    static final String KIND = "kind";
    /** Kratos's metadata key for the instance's version. */
    static final String VERSION = "version";
    /** The metadata key Kratos reads the Nacos weight from. */
    static final String WEIGHT = "weight";

    private static final Pattern PART = Pattern.compile("(.+)#(\\d{1,4})/(\\d{1,4})", Pattern.DOTALL);
    private static final Pattern SCHEME = Pattern.compile("[A-Za-z][A-Za-z0-9+.-]*");
    private static final int MAX_SKIPPED_LOGGED = 10_000;
    private static final Pattern DECIMAL = Pattern.compile("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?");
    /** Nacos's server-side service name check refuses CJK ideographs (and whitespace, as Roster does). */
    private static final Pattern NACOS_NAME_CHARACTERS = Pattern.compile("[^\\u4E00-\\u9FA5]*");

    private final String cluster;
    private final double defaultWeight;
    private final List<String> schemes;
    /** Records already logged as unreadable, so that a watch or a poll does not log them again. */
    private final Set<String> skipped = ConcurrentHashMap.newKeySet();

    /**
     * Creates the layout.
     *
     * @param cluster the Nacos cluster instances are registered in
     * @param defaultWeight the weight of instances without a numeric {@code weight} metadata entry
     * @param schemes the schemes whose {@code <name>.<scheme>} services a bare name is read from
     */
    NacosLayout(String cluster, double defaultWeight, List<String> schemes) {
        this.cluster = cluster;
        this.defaultWeight = defaultWeight;
        this.schemes = List.copyOf(schemes);
    }

    /** One Nacos registration: an endpoint of a Roster instance, in its {@code <name>.<scheme>} service. */
    record Part(String service, Instance instance) {
    }

    /** A Nacos service to read for a requested name, and the scheme its instances serve. */
    record Target(String service, String scheme) {
    }

    /**
     * Checks the rules this layout adds to {@link ServiceInstance}'s own, before anything is written.
     *
     * @param instance the instance to register
     * @throws InvalidInstanceException naming the field and the rule
     */
    void check(ServiceInstance instance) {
        checkName(instance.name());
        if (direct(instance.name()).isPresent()) {
            throw new InvalidInstanceException("name", "must not end with '." + direct(instance.name()).get()
                    + "' on Nacos, where that suffix names the scheme of a per-endpoint service",
                    "(was \"" + instance.name() + "\")");
        }
        if (instance.endpoints().isEmpty()) {
            throw new InvalidInstanceException("endpoints", "must not be empty on Nacos, where each endpoint is "
                    + "one Nacos instance", "");
        }
        Map<String, String> reserved = Map.of(KIND, "endpoint scheme", VERSION, "version", INSTANCE_KEY, "id",
                SCHEMES_KEY, "endpoint schemes");
        for (Map.Entry<String, String> key : reserved.entrySet()) {
            if (instance.metadata().containsKey(key.getKey())) {
                throw new InvalidInstanceException("metadata[" + key.getKey() + "]", "is reserved on Nacos (written "
                        + "from the " + key.getValue() + ")", "");
            }
        }
        try {
            // nacos-client's own checks, such as numeric preserved.heart.beat.* metadata.
            for (Part part : parts(instance)) {
                NamingUtils.checkInstanceIsLegal(part.instance());
            }
        } catch (NacosException | IllegalArgumentException e) {
            throw new InvalidInstanceException("metadata", "is refused by nacos-client", "("
                    + (e instanceof NacosException ? ((NacosException) e).getErrMsg() : e.toString()) + ")");
        }
    }

    /**
     * Checks a service name against Nacos's own rules (Roster's rules are already met).
     *
     * @param name a valid Roster service name
     * @throws InvalidInstanceException when Nacos would refuse it
     */
    static void checkName(String name) {
        if (!NACOS_NAME_CHARACTERS.matcher(name).matches()) {
            throw new InvalidInstanceException("name", "must not contain CJK ideographs (U+4E00..U+9FA5) on Nacos",
                    "(was \"" + name + "\")");
        }
    }

    /**
     * Lays an instance out as Nacos registrations, one per endpoint, in endpoint order.
     *
     * @param instance a checked instance
     * @return the parts
     */
    List<Part> parts(ServiceInstance instance) {
        List<Part> parts = new ArrayList<>();
        int count = instance.endpoints().size();
        String schemesOfAll = instance.endpoints().stream().map(URI::getScheme).collect(Collectors.joining(","));
        for (int i = 0; i < count; i++) {
            URI endpoint = instance.endpoints().get(i);
            Map<String, String> metadata = new HashMap<>(instance.metadata());
            metadata.put(KIND, endpoint.getScheme());
            metadata.put(VERSION, instance.version());
            metadata.put(INSTANCE_KEY, instance.id() + "#" + (i + 1) + "/" + count);
            metadata.put(SCHEMES_KEY, schemesOfAll);
            Instance nacos = new Instance();
            nacos.setIp(Endpoints.host(endpoint));
            nacos.setPort(endpoint.getPort());
            nacos.setWeight(weight(instance.metadata().get(WEIGHT)));
            nacos.setClusterName(cluster);
            nacos.setHealthy(true);
            nacos.setEnabled(true);
            nacos.setEphemeral(true);
            nacos.setMetadata(metadata);
            parts.add(new Part(instance.name() + "." + endpoint.getScheme(), nacos));
        }
        return parts;
    }

    /** Kratos parses metadata {@code weight} as a float and falls back to the option on an error. */
    private double weight(String value) {
        if (value == null || !DECIMAL.matcher(value).matches()) {
            return defaultWeight;
        }
        double weight = Double.parseDouble(value);
        return Double.isFinite(weight) ? weight : defaultWeight;
    }

    /**
     * Returns the Nacos services to read for a requested name.
     *
     * @param name a bare name such as {@code helloworld}, or a direct one such as {@code helloworld.grpc}
     * @return one target per discovery scheme for a bare name; the service itself for a direct name
     */
    List<Target> targets(String name) {
        Optional<String> scheme = direct(name);
        if (scheme.isPresent()) {
            return List.of(new Target(name, scheme.get()));
        }
        List<Target> targets = new ArrayList<>();
        for (String s : schemes) {
            targets.add(new Target(name + "." + s, s));
        }
        return targets;
    }

    /**
     * Returns the name a Nacos service is read by: {@code greeter} for {@code greeter.grpc} when {@code grpc} is a
     * discovery scheme, else the service's own name.
     *
     * @param service a Nacos service name
     * @return the name to give {@code getService}
     */
    String bareName(String service) {
        return direct(service).map(s -> service.substring(0, service.length() - s.length() - 1)).orElse(service);
    }

    private Optional<String> direct(String name) {
        return schemes.stream().filter(s -> name.endsWith("." + s) && name.length() > s.length() + 1).findFirst();
    }

    /**
     * Turns what Nacos holds for a requested name into Roster instances.
     *
     * @param name the requested name; every instance returned carries it
     * @param lists the instances of each target, already filtered by health
     * @param previous the last result by id (a watcher's), kept for an instance whose parts disagree; empty for a
     *     one-shot read
     * @return the instances, in no particular order
     */
    List<ServiceInstance> merge(String name, Map<Target, List<Instance>> lists, Map<String, ServiceInstance> previous) {
        boolean direct = direct(name).isPresent();
        Map<String, List<Piece>> byId = new LinkedHashMap<>();
        List<ServiceInstance> result = new ArrayList<>();
        lists.forEach((target, instances) -> {
            for (Instance nacos : instances) {
                Optional<Piece> piece = Piece.of(target, nacos);
                if (piece.isPresent()) {
                    byId.computeIfAbsent(piece.get().id, k -> new ArrayList<>()).add(piece.get());
                } else {
                    foreign(name, target, nacos).ifPresent(result::add);
                }
            }
        });
        byId.forEach((id, pieces) -> {
            pieces.sort(Comparator.comparingInt(p -> p.position));
            Optional<ServiceInstance> merged = direct ? build(name, id, pieces) : whole(name, id, pieces, previous);
            merged.ifPresent(result::add);
        });
        return result;
    }

    /**
     * Puts an instance back together from the parts this reader can see. The writer says how many endpoints the
     * instance has and, in {@value #SCHEMES_KEY}, the scheme of each; the parts this reader can expect are those
     * whose scheme it reads. So an endpoint in a scheme this reader does not read (a {@code tcp} endpoint, an
     * {@code http} one for a reader of {@code grpc} only) does not hide the instance: it shows with the endpoints
     * the reader can see. Parts written without {@value #SCHEMES_KEY} (by an earlier Roster) are all expected.
     */
    private Optional<ServiceInstance> whole(String name, String id, List<Piece> pieces,
                                            Map<String, ServiceInstance> previous) {
        Piece first = pieces.get(0);
        Set<Integer> present = new HashSet<>();
        boolean consistent = true;
        for (Piece p : pieces) {
            consistent &= present.add(p.position) && p.count == first.count && p.schemes.equals(first.schemes)
                    && p.version.equals(first.version) && p.metadata.equals(first.metadata);
        }
        boolean complete = present.equals(first.expected(schemes)) && pieces.stream()
                .allMatch(p -> p.count == first.count && p.schemes.equals(first.schemes));
        if (complete && consistent) {
            return build(name, id, pieces);
        }
        ServiceInstance last = previous.get(id);
        if (last != null) {
            return Optional.of(last); // an update or a removal under way: keep the last complete form
        }
        return complete ? build(name, id, pieces) : Optional.empty();
    }

    private Optional<ServiceInstance> build(String name, String id, List<Piece> pieces) {
        try {
            ServiceInstance.Builder builder = ServiceInstance.builder().name(name).id(id)
                    .version(pieces.get(0).version).metadata(pieces.get(0).metadata);
            pieces.forEach(p -> builder.endpoint(p.endpoint));
            return Optional.of(builder.buildLenient());
        } catch (InvalidInstanceException e) {
            skip(name + "/" + id, "Skipping Nacos instance '" + id + "' of service '" + name + "': "
                    + e.getMessage());
            return Optional.empty();
        }
    }

    /** A Nacos instance written without the Roster key (Go Kratos, plain nacos-client): one Roster instance. */
    private Optional<ServiceInstance> foreign(String name, Target target, Instance nacos) {
        Map<String, String> metadata = metadataOf(nacos);
        String version = metadata.getOrDefault(VERSION, "");
        String scheme = scheme(metadata.get(KIND), target.scheme());
        metadata.remove(VERSION);
        metadata.remove(KIND);
        String id = nacos.getInstanceId() != null && !nacos.getInstanceId().isBlank() ? nacos.getInstanceId()
                : nacos.getIp() + "#" + nacos.getPort() + "#" + nacos.getClusterName() + "#" + nacos.getServiceName();
        Optional<URI> endpoint = endpoint(scheme, nacos);
        if (endpoint.isEmpty()) {
            skip(target.service() + "/" + id, "Skipping Nacos instance '" + id + "' of service '" + target.service()
                    + "': no usable ip and port (" + nacos.getIp() + ":" + nacos.getPort() + ")");
            return Optional.empty();
        }
        try {
            return Optional.of(ServiceInstance.builder().name(name).id(id).version(version).metadata(metadata)
                    .endpoint(endpoint.get()).buildLenient());
        } catch (InvalidInstanceException e) {
            skip(target.service() + "/" + id, "Skipping Nacos instance '" + id + "' of service '" + target.service()
                    + "': " + e.getMessage());
            return Optional.empty();
        }
    }

    /**
     * Returns the Roster id a Nacos instance carries in {@value #INSTANCE_KEY}.
     *
     * @param nacos an instance as read from the server
     * @return the id, or empty for an instance not written by Roster
     */
    static Optional<String> rosterId(Instance nacos) {
        String key = nacos.getMetadata() == null ? null : nacos.getMetadata().get(INSTANCE_KEY);
        Matcher m = key == null ? null : PART.matcher(key);
        return m != null && m.matches() ? Optional.of(m.group(1)) : Optional.empty();
    }

    /** Logs a record that cannot be read once, not on every read of its service. */
    private void skip(String record, String message) {
        if (skipped.size() < MAX_SKIPPED_LOGGED && skipped.add(record)) {
            LOG.warn(message);
        } else {
            LOG.debug(message);
        }
    }

    /** Kratos writes {@code kind} as the endpoint scheme; Go's URL parser lower-cases a scheme. */
    private static String scheme(String kind, String fallback) {
        return kind != null && SCHEME.matcher(kind).matches() ? kind.toLowerCase(Locale.ROOT) : fallback;
    }

    private static Optional<URI> endpoint(String scheme, Instance nacos) {
        if (nacos.getIp() == null || nacos.getIp().isBlank()) {
            return Optional.empty();
        }
        try {
            return Endpoints.lenient(Endpoints.of(scheme, nacos.getIp().trim(), nacos.getPort()).toString());
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** Metadata as written, empty keys included; a null value reads as empty, as Go's decoder has it. */
    private static Map<String, String> metadataOf(Instance nacos) {
        Map<String, String> metadata = new HashMap<>();
        if (nacos.getMetadata() != null) {
            nacos.getMetadata().forEach((k, v) -> {
                if (k != null) {
                    metadata.put(k, v == null ? "" : v);
                }
            });
        }
        return metadata;
    }

    /** An endpoint of a Roster-written instance, as read back. */
    private static final class Piece {
        final String id;
        final int position;
        final int count;
        /** The scheme of each of the instance's endpoints, when the writer listed them; else empty. */
        final List<String> schemes;
        final String version;
        final Map<String, String> metadata;
        final URI endpoint;

        private Piece(String id, int position, int count, List<String> schemes, String version,
                      Map<String, String> metadata, URI endpoint) {
            this.id = id;
            this.position = position;
            this.count = count;
            this.schemes = schemes;
            this.version = version;
            this.metadata = metadata;
            this.endpoint = endpoint;
        }

        /** The positions a reader of the given schemes can see. */
        Set<Integer> expected(List<String> readable) {
            Set<Integer> expected = new HashSet<>();
            for (int k = 1; k <= count; k++) {
                if (schemes.isEmpty() || readable.contains(schemes.get(k - 1))) {
                    expected.add(k);
                }
            }
            return expected;
        }

        static Optional<Piece> of(Target target, Instance nacos) {
            Map<String, String> metadata = metadataOf(nacos);
            String key = metadata.remove(INSTANCE_KEY);
            String listed = metadata.remove(SCHEMES_KEY);
            Matcher m = key == null ? null : PART.matcher(key);
            if (m == null || !m.matches()) {
                return Optional.empty();
            }
            int position = Integer.parseInt(m.group(2));
            int count = Integer.parseInt(m.group(3));
            if (position < 1 || position > count) {
                return Optional.empty();
            }
            List<String> written = listed == null ? List.of() : List.of(listed.split(",", -1));
            // Not a list of this count: judge on the count alone, as for parts written before the key existed.
            List<String> schemes = written.size() == count ? written : List.of();
            String version = metadata.getOrDefault(VERSION, "");
            String scheme = scheme(metadata.remove(KIND), target.scheme());
            metadata.remove(VERSION);
            Optional<URI> endpoint = endpoint(scheme, nacos);
            return endpoint.map(e -> new Piece(m.group(1), position, count, schemes, version, metadata, e));
        }
    }
}
