package io.roster.nacos;

import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.common.Constants;
import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.naming.CommonParams;
import com.alibaba.nacos.api.naming.NamingFactory;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.alibaba.nacos.api.naming.pojo.ListView;
import io.roster.InvalidInstanceException;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.Endpoints;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import io.roster.spi.Options;
import io.roster.spi.RegistryUri;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a {@code nacos://} registry as stored: every service of the group ({@code getServicesOfServer}), or those
 * of one name ({@code <name>} and {@code <name>.<scheme>}), and all their instances, healthy or not, at their Nacos
 * instance id. Kratos's layout: one instance per endpoint in service {@code <name>.<scheme>} with metadata
 * {@code kind=<scheme>} and {@code version}; Roster adds {@code roster.instance=<id>#<k>/<n>}, so that an
 * instance whose endpoints are not all there can be named.
 *
 * <p>It reads through a nacos-client of its own (the URI's servers, {@code namespace}, {@code group}, credentials
 * and {@code timeout}), independent of the registry's, shut down before it returns.
 */
public final class NacosInspector implements Inspector {
    private static final Pattern PART = Pattern.compile("(.+)#(\\d{1,4})/(\\d{1,4})", Pattern.DOTALL);
    private static final Pattern SCHEME = Pattern.compile("[a-z][a-z0-9+.-]*");
    private static final Set<String> LAYOUT_KEYS = Set.of("kind", "version", "roster.instance");
    private static final int PAGE = 500;

    /** Creates the inspector; called by {@link java.util.ServiceLoader}. */
    public NacosInspector() {
    }

    @Override
    public String scheme() {
        return "nacos";
    }

    @Override
    public Optional<String> timeoutOption() {
        return Optional.of("timeout");
    }

    @Override
    public Inspection inspect(Registry registry, RegistryUri uri, String service) {
        Options options = uri.options();
        String group = options.string("group", Constants.DEFAULT_GROUP);
        Properties properties = new Properties();
        List<String> servers = new ArrayList<>();
        uri.hosts().forEach(h -> servers.add(h.matches(".*:\\d+") ? h : h + ":8848"));
        properties.setProperty(PropertyKeyConst.SERVER_ADDR, String.join(",", servers));
        properties.setProperty(CommonParams.NAMING_REQUEST_TIMEOUT, String.valueOf(options.duration("timeout",
                Duration.ofSeconds(3)).toMillis()));
        options.string("namespace").ifPresent(ns -> properties.setProperty(PropertyKeyConst.NAMESPACE, ns));
        Optional<String> user = options.string("username").or(uri::user);
        if (user.isPresent()) {
            properties.setProperty(PropertyKeyConst.USERNAME, user.get());
            properties.setProperty(PropertyKeyConst.PASSWORD, options.secret("password").or(uri::password)
                    .orElse(""));
        }
        String where = "nacos at " + String.join(",", servers) + " (group " + group + ")";
        NamingService naming = null;
        try {
            naming = NamingFactory.createNamingService(properties);
            Map<String, List<Instance>> lists = new TreeMap<>();
            for (String name : services(naming, group)) {
                if (service == null || name.equals(service) || (name.startsWith(service + ".")
                        && name.indexOf('.', service.length() + 1) < 0)) {
                    lists.put(name, naming.getAllInstances(name, group, new ArrayList<>(), false));
                }
            }
            Inspection.Builder builder = Inspection.builder("Nacos instances of " + where + " (Nacos instance ids)");
            check(builder, group, lists);
            return builder.build();
        } catch (NacosException e) {
            if (e.getErrCode() == NacosException.NO_RIGHT) {
                throw new RegistryAccessDeniedException("inspect failed: " + where + " refused the credentials: "
                        + RegistryUri.redact(e.getErrMsg()), e);
            }
            throw new RegistryUnavailableException("inspect failed: " + where + " is unavailable: "
                    + RegistryUri.redact(e.getErrMsg()), e);
        } finally {
            if (naming != null) {
                try {
                    naming.shutDown();
                } catch (NacosException e) {
                    // nothing more to release
                }
            }
        }
    }

    private static List<String> services(NamingService naming, String group) throws NacosException {
        List<String> names = new ArrayList<>();
        for (int page = 1; ; page++) {
            ListView<String> view = naming.getServicesOfServer(page, PAGE, group);
            names.addAll(view.getData());
            if (view.getData().size() < PAGE || names.size() >= view.getCount()) {
                return names;
            }
        }
    }

    /** One endpoint of a Roster instance: where it is and what its {@code roster.instance} says. */
    private record Part(String location, int position, int count, String version, Map<String, String> metadata) {
    }

    /**
     * Checks the instances of each Nacos service.
     *
     * @param lists the instances by Nacos service name, healthy or not
     */
    static void check(Inspection.Builder builder, String group, Map<String, List<Instance>> lists) {
        Map<List<String>, List<Part>> parts = new LinkedHashMap<>();
        lists.forEach((nacosService, instances) -> {
            for (Instance instance : instances) {
                checkInstance(builder, group, nacosService, instance, parts);
            }
        });
        parts.forEach((key, pieces) -> checkParts(builder, key.get(0), key.get(1), pieces));
    }

    private static void checkInstance(Inspection.Builder builder, String group, String nacosService,
                                      Instance nacos, Map<List<String>, List<Part>> parts) {
        String location = nacos.getInstanceId() != null && !nacos.getInstanceId().isEmpty() ? nacos.getInstanceId()
                : nacos.getIp() + "#" + nacos.getPort() + "#" + nacos.getClusterName() + "#" + group + "@@"
                + nacosService;
        String raw = nacos.toString();
        Map<String, String> metadata = new TreeMap<>(nacos.getMetadata() == null ? Map.of() : nacos.getMetadata());
        String kind = metadata.get("kind");
        int dot = nacosService.lastIndexOf('.');
        String suffix = dot < 0 ? null : nacosService.substring(dot + 1);
        boolean kratos = kind != null || metadata.containsKey("roster.instance");
        String name = kratos && suffix != null ? nacosService.substring(0, dot) : nacosService;
        if (!builder.serviceName(location, name)) {
            builder.record(location, name, raw, null);
            return;
        }
        if (kratos && suffix != null && kind != null && !kind.equals(suffix)) {
            builder.problem(location, Inspection.Kind.NAME_MISMATCH, "metadata kind=" + kind + " but the service "
                    + "is " + nacosService + ": readers of " + name + "." + kind + " do not see it");
        }
        String scheme = kind != null && SCHEME.matcher(kind).matches() ? kind
                : suffix != null && SCHEME.matcher(suffix).matches() ? suffix : "http";
        Optional<URI> endpoint = Optional.empty();
        if (nacos.getIp() == null || nacos.getIp().isBlank() || nacos.getPort() <= 0) {
            builder.problem(location, Inspection.Kind.NO_ENDPOINT, "no ip and port: readers get no endpoint");
        } else {
            try {
                endpoint = Optional.of(Endpoints.of(scheme, nacos.getIp(), nacos.getPort()));
            } catch (IllegalArgumentException e) {
                builder.problem(location, Inspection.Kind.BAD_ENDPOINT, scheme + "://" + nacos.getIp() + ":"
                        + nacos.getPort() + " is not a usable endpoint; readers drop it");
            }
        }
        if (!nacos.isHealthy()) {
            builder.problem(location, Inspection.Kind.UNHEALTHY, "Nacos marks it unhealthy: healthy-only readers "
                    + "skip it");
        }
        String id = location; // as Go Kratos reads it
        String key = metadata.get("roster.instance");
        if (key != null) {
            Matcher m = PART.matcher(key);
            int position = m.matches() ? Integer.parseInt(m.group(2)) : 0;
            int count = m.matches() ? Integer.parseInt(m.group(3)) : 0;
            if (position < 1 || position > count) {
                builder.problem(location, Inspection.Kind.NOT_DECODABLE, "roster.instance '" + key + "' is not "
                        + "<id>#<k>/<n> with 1 <= k <= n");
            } else {
                id = m.group(1);
                Map<String, String> shared = new TreeMap<>(metadata);
                LAYOUT_KEYS.forEach(shared::remove);
                parts.computeIfAbsent(List.of(name, id), k -> new ArrayList<>())
                        .add(new Part(location, position, count, metadata.getOrDefault("version", ""), shared));
            }
        }
        Map<String, String> user = new TreeMap<>(metadata);
        LAYOUT_KEYS.forEach(user::remove);
        try {
            ServiceInstance.Builder b = ServiceInstance.builder().id(id).name(name)
                    .version(metadata.getOrDefault("version", "")).metadata(user);
            endpoint.ifPresent(b::endpoint);
            builder.record(location, name, raw, b.buildLenient());
        } catch (InvalidInstanceException e) {
            builder.record(location, name, raw, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                    "the instance does not make a Roster instance: " + RegistryUri.redact(e.getMessage()));
        }
    }

    /** The endpoints of one Roster instance: all there, once each, agreeing on the count, version and metadata. */
    private static void checkParts(Inspection.Builder builder, String name, String id, List<Part> pieces) {
        int count = pieces.stream().mapToInt(Part::count).max().orElse(0);
        Map<Integer, String> seen = new TreeMap<>();
        for (Part part : pieces) {
            String first = seen.putIfAbsent(part.position(), part.location());
            if (first != null) {
                builder.problem(part.location(), Inspection.Kind.DUPLICATE_ID, "endpoint " + part.position() + " of "
                        + "instance " + id + " of " + name + " is also registered at " + first);
            }
        }
        List<Integer> missing = new ArrayList<>();
        for (int k = 1; k <= count; k++) {
            if (!seen.containsKey(k)) {
                missing.add(k);
            }
        }
        Set<Integer> counts = new TreeSet<>();
        Set<String> versions = new TreeSet<>();
        Set<Map<String, String>> metadata = new HashSet<>();
        pieces.forEach(p -> {
            counts.add(p.count());
            versions.add(p.version());
            metadata.add(p.metadata());
        });
        List<String> why = new ArrayList<>();
        if (!missing.isEmpty()) {
            why.add("endpoint(s) " + missing + " of " + count + " missing");
        }
        if (counts.size() > 1) {
            why.add("its parts disagree on the number of endpoints " + counts);
        }
        if (versions.size() > 1 || metadata.size() > 1) {
            why.add("its parts disagree on the " + (versions.size() > 1 ? "version " + versions : "metadata"));
        }
        if (!why.isEmpty()) {
            for (Part part : pieces) {
                builder.problem(part.location(), Inspection.Kind.PARTIAL_INSTANCE, "instance " + id + " of " + name
                        + ": " + String.join("; ", why) + " (Roster readers show it only once it is whole)");
            }
        }
    }
}
