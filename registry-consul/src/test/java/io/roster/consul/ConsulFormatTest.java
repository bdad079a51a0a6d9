package io.roster.consul;

import com.fasterxml.jackson.databind.JsonNode;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Golden tests of Kratos's Consul layout (kratos-registry.md §5 and §13): the registration body as Go's
 * {@code api.AgentServiceRegistration} serialises it for Kratos, and health entries read back as Kratos's
 * {@code defaultResolver} maps them.
 */
class ConsulFormatTest {
    private static final ConsulFormat.Checks KRATOS_DEFAULTS = new ConsulFormat.Checks(Duration.ofSeconds(20),
            Duration.ofSeconds(600), true, Duration.ofSeconds(10), List.of());

    private static final ServiceInstance GREETER = ServiceInstance.builder()
            .id("8b5c2f4e-1d2a-11ef-9c2b-0242ac120002")
            .name("helloworld")
            .version("v1.2.0")
            .metadata("zone", "eu-west-1a")
            .metadata("weight", "80")
            .endpoint("grpc://10.0.0.5:9000")
            .endpoint("http://10.0.0.5:8000")
            .build();

    @Test
    void registrationIsKratosPayloadWithItsDefaults() {
        // What Kratos v2/v3 sends with WithHealthCheck(true), WithHeartbeat(true), interval 10, deregister 600.
        String expected = "{\"ID\":\"8b5c2f4e-1d2a-11ef-9c2b-0242ac120002\",\"Name\":\"helloworld\","
                + "\"Tags\":[\"version=v1.2.0\"],\"Port\":9000,\"Address\":\"10.0.0.5\","
                + "\"TaggedAddresses\":{"
                + "\"grpc\":{\"Address\":\"grpc://10.0.0.5:9000\",\"Port\":9000},"
                + "\"http\":{\"Address\":\"http://10.0.0.5:8000\",\"Port\":8000}},"
                + "\"Meta\":{\"weight\":\"80\",\"zone\":\"eu-west-1a\"},"
                + "\"Checks\":["
                + "{\"Interval\":\"10s\",\"Timeout\":\"5s\",\"TCP\":\"10.0.0.5:9000\","
                + "\"DeregisterCriticalServiceAfter\":\"600s\"},"
                + "{\"Interval\":\"10s\",\"Timeout\":\"5s\",\"TCP\":\"10.0.0.5:8000\","
                + "\"DeregisterCriticalServiceAfter\":\"600s\"},"
                + "{\"CheckID\":\"service:8b5c2f4e-1d2a-11ef-9c2b-0242ac120002\",\"TTL\":\"20s\","
                + "\"DeregisterCriticalServiceAfter\":\"600s\"}]}";

        assertThat(ConsulFormat.registration(GREETER, KRATOS_DEFAULTS)).isEqualTo(expected);
    }

    @Test
    void registrationWithOurDefaultsHasOnlyTheTtlCheckAndExtraTagsAfterTheVersion() {
        ConsulConfig config = ConsulRegistry.builder().tags(List.of("canary", "team=core")).config();

        String expected = "{\"ID\":\"8b5c2f4e-1d2a-11ef-9c2b-0242ac120002\",\"Name\":\"helloworld\","
                + "\"Tags\":[\"version=v1.2.0\",\"canary\",\"team=core\"],\"Port\":9000,\"Address\":\"10.0.0.5\","
                + "\"TaggedAddresses\":{"
                + "\"grpc\":{\"Address\":\"grpc://10.0.0.5:9000\",\"Port\":9000},"
                + "\"http\":{\"Address\":\"http://10.0.0.5:8000\",\"Port\":8000}},"
                + "\"Meta\":{\"weight\":\"80\",\"zone\":\"eu-west-1a\"},"
                + "\"Checks\":[{\"CheckID\":\"service:8b5c2f4e-1d2a-11ef-9c2b-0242ac120002\",\"TTL\":\"20s\","
                + "\"DeregisterCriticalServiceAfter\":\"600s\"}]}";
        assertThat(ConsulFormat.registration(GREETER, config.checks())).isEqualTo(expected);
        assertThat(config.heartbeat()).isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void registrationOmitsWhatGoOmitsAndWritesAnEmptyVersionTag() {
        ServiceInstance bare = ServiceInstance.builder().id("b").name("bare").build();

        assertThat(ConsulFormat.registration(bare, KRATOS_DEFAULTS)).isEqualTo(
                "{\"ID\":\"b\",\"Name\":\"bare\",\"Tags\":[\"version=\"],\"Checks\":[{\"CheckID\":\"service:b\","
                        + "\"TTL\":\"20s\",\"DeregisterCriticalServiceAfter\":\"600s\"}]}");
    }

    @Test
    void ipv6EndpointsAsGoWritesThem() throws IOException {
        ServiceInstance v6 = ServiceInstance.builder().id("6").name("six").endpoint("grpc://[::1]:9000").build();

        JsonNode body = ConsulFormat.JSON.readTree(ConsulFormat.registration(v6, KRATOS_DEFAULTS));

        assertThat(body.get("Address").asText()).isEqualTo("::1"); // url.Hostname(): no brackets
        assertThat(body.get("TaggedAddresses").get("grpc").get("Address").asText()).isEqualTo("grpc://[::1]:9000");
        assertThat(body.get("Checks").get(0).get("TCP").asText()).isEqualTo("[::1]:9000"); // net.JoinHostPort
    }

    @Test
    void twoEndpointsOfOneSchemeAreBothKeptWhereKratosWouldDropOne() throws IOException {
        ServiceInstance twice = ServiceInstance.builder().id("t").name("twice")
                .endpoint("grpc://10.0.0.5:9000").endpoint("grpc://10.0.0.6:9000").endpoint("grpc-2://10.0.0.7:1")
                .build();

        JsonNode tagged = ConsulFormat.JSON.readTree(ConsulFormat.registration(twice, KRATOS_DEFAULTS))
                .get("TaggedAddresses");

        assertThat(tagged.get("grpc").get("Address").asText()).isEqualTo("grpc://10.0.0.5:9000");
        assertThat(tagged.get("grpc-2").get("Address").asText()).isEqualTo("grpc-2://10.0.0.7:1");
        assertThat(tagged.get("grpc-3").get("Address").asText()).isEqualTo("grpc://10.0.0.6:9000");
        assertThat(read(entry(tagged.toString(), "10.0.0.5", 9000, "[]", "null"))).singleElement()
                .satisfies(i -> assertThat(i.endpoints()).containsExactly(URI.create("grpc://10.0.0.5:9000"),
                        URI.create("grpc-2://10.0.0.7:1"), URI.create("grpc://10.0.0.6:9000")));
    }

    @Test
    void aKratosEntryReadsBackEqualFirstEndpointFirst() throws IOException {
        // As the agent returns it: tagged-address keys sorted, Consul's lan_ipv4/wan_ipv4 added.
        ServiceInstance httpFirst = GREETER.toBuilder().endpoints(List.of(URI.create("http://10.0.0.5:8000"),
                URI.create("grpc://10.0.0.5:9000"))).build();
        String tagged = "{\"grpc\":{\"Address\":\"grpc://10.0.0.5:9000\",\"Port\":9000},"
                + "\"http\":{\"Address\":\"http://10.0.0.5:8000\",\"Port\":8000},"
                + "\"lan_ipv4\":{\"Address\":\"10.0.0.5\",\"Port\":8000},"
                + "\"wan_ipv4\":{\"Address\":\"10.0.0.5\",\"Port\":8000}}";

        List<ServiceInstance> read = read(entry(tagged, "10.0.0.5", 8000, "[\"version=v1.2.0\"]",
                "{\"weight\":\"80\",\"zone\":\"eu-west-1a\"}"));

        assertThat(read).containsExactly(httpFirst);
    }

    @Test
    void theLastVersionTagWinsAndOtherTagsAreIgnored() throws IOException {
        List<ServiceInstance> read = read(entry("{}", "10.0.0.9", 80,
                "[\"version=v1\",\"canary\",\"version=v2\"]", "null"));

        assertThat(read).singleElement().satisfies(i -> assertThat(i.version()).isEqualTo("v2"));
    }

    @Test
    void aServiceRegisteredWithoutKratosIsReadAsHttpAtItsAddress() throws IOException {
        String plain = entry("{\"lan\":{\"Address\":\"10.0.0.9\",\"Port\":80},"
                + "\"lan_ipv4\":{\"Address\":\"10.0.0.9\",\"Port\":80}}", "10.0.0.9", 80, "[\"primary\"]", "null");
        String onNodeAddress = entry("{}", "", 8080, "null", "null").replace("\"ID\":\"i-1\"", "\"ID\":\"i-2\"");

        List<ServiceInstance> read = read("[" + strip(plain) + "," + strip(onNodeAddress) + "]");

        assertThat(read).extracting(ServiceInstance::endpoints).containsExactly(
                List.of(URI.create("http://10.0.0.9:80")),
                List.of(URI.create("http://192.168.1.7:8080"))); // the node's address, as Consul resolves it
        assertThat(read.get(0).version()).isEmpty();
        assertThat(read.get(0).metadata()).isEmpty();
    }

    @Test
    void unusableEntriesAreSkippedAndTheRestKept() throws IOException {
        String good = strip(entry("{}", "10.0.0.9", 80, "[]", "null"));
        String noService = "{\"Node\":{},\"Checks\":[]}";
        String blankId = good.replace("\"ID\":\"i-1\"", "\"ID\":\"\"");
        String badName = good.replace("\"Service\":\"helloworld\"", "\"Service\":\"a/b\"")
                .replace("i-1", "i-4");
        String spaceInVersion = good.replace("\"Tags\":[]", "\"Tags\":[\"version=v 1\"]").replace("i-1", "i-3");

        List<ServiceInstance> read = read("[" + noService + "," + blankId + "," + badName + "," + good + ","
                + spaceInVersion + "]");

        assertThat(read).extracting(ServiceInstance::id).containsExactly("i-1", "i-3");
        assertThatThrownBy(() -> ConsulFormat.instances("{\"not\":\"an array\"}".getBytes(StandardCharsets.UTF_8),
                "x")).isInstanceOf(IOException.class);
    }

    @Test
    void whatKratosSpringAndOperatorsWriteIsReadAsWritten() throws IOException {
        // Go Kratos: a version with a space, a service name Roster would not write, the legacy ?isSecure= query,
        // an endpoint with a path, and any Meta key Consul allows.
        String kratos = "{\"Node\":{\"Node\":\"n\",\"Address\":\"192.168.1.7\"},\"Service\":{\"ID\":\"k-1\","
                + "\"Service\":\"_private.svc\",\"Tags\":[\"version=v1.0 beta\"],\"Address\":\"10.0.0.1\","
                + "\"TaggedAddresses\":{\"grpc\":{\"Address\":\"grpc://10.0.0.1:9000?isSecure=true\",\"Port\":9000},"
                + "\"http\":{\"Address\":\"http://10.0.0.1:8000/api\",\"Port\":8000},"
                + "\"lan_ipv4\":{\"Address\":\"10.0.0.1\",\"Port\":9000}},"
                + "\"Meta\":{\"X-Team\":\"core\",\"build_id\":\"42\",\"zone\":\"\"},\"Port\":9000}}";
        // Spring Cloud Consul: no tagged addresses, no version tag, its own tags and Meta.
        String spring = "{\"Node\":{\"Node\":\"n\",\"Address\":\"192.168.1.7\"},\"Service\":{"
                + "\"ID\":\"greeter-8080\",\"Service\":\"greeter\",\"Tags\":[\"secure=false\"],"
                + "\"Address\":\"10.0.0.7\",\"Meta\":{\"secure\":\"false\",\"management_port\":\"8081\"},"
                + "\"Port\":8080}}";

        List<ServiceInstance> read = read("[" + kratos + "," + spring + "]");

        assertThat(read).hasSize(2);
        ServiceInstance k = read.get(0);
        assertThat(k.id()).isEqualTo("k-1");
        assertThat(k.name()).isEqualTo("_private.svc");
        assertThat(k.version()).isEqualTo("v1.0 beta");
        assertThat(k.metadata()).containsExactly(Map.entry("X-Team", "core"), Map.entry("build_id", "42"),
                Map.entry("zone", ""));
        assertThat(k.endpoints()).containsExactly(URI.create("grpc://10.0.0.1:9000?isSecure=true"),
                URI.create("http://10.0.0.1:8000/api"));
        ServiceInstance sc = read.get(1);
        assertThat(sc.id()).isEqualTo("greeter-8080");
        assertThat(sc.version()).isEmpty();
        assertThat(sc.metadata()).containsExactly(Map.entry("management_port", "8081"), Map.entry("secure", "false"));
        assertThat(sc.endpoints()).containsExactly(URI.create("http://10.0.0.7:8080"));
        // Read leniently, written strictly: registering the Kratos record back is refused before any I/O.
        assertThatThrownBy(() -> ServiceInstance.requireWritable(k)).isInstanceOf(InvalidInstanceException.class);
        assertThat(ServiceInstance.requireWritable(sc)).isEqualTo(sc);
    }

    @Test
    void anUnusableEntryIsLoggedOnceNotOnEveryRead() throws IOException {
        String blankName = strip(entry("{}", "10.0.0.9", 80, "[]", "null"))
                .replace("\"Service\":\"helloworld\"", "\"Service\":\" \"").replace("i-1", "once-1");
        try (StandardErrorCapture log = StandardErrorCapture.start()) {
            for (int i = 0; i < 3; i++) {
                assertThat(read("[" + blankName + "]")).isEmpty();
            }
            assertThat(log.lines("Skipping unusable Consul entry 'once-1'")).isEqualTo(1);
        }
    }

    @Test
    void consulMetadataRulesAreCheckedBeforeSending() {
        Map<String, String> bad = Map.of(
                "a.b", "key must contain only letters, digits, '-' and '_' on Consul",
                "consul-version", "key must not start with 'consul-' (reserved by Consul)",
                "k".repeat(129), "key must be at most 128 characters on Consul");
        bad.forEach((key, rule) -> assertThatThrownBy(() -> ConsulFormat.validate(
                GREETER.toBuilder().metadata(key, "x").build()))
                .isInstanceOf(InvalidInstanceException.class)
                .satisfies(e -> assertThat(((InvalidInstanceException) e).rule()).isEqualTo(rule))
                .satisfies(e -> assertThat(((InvalidInstanceException) e).field()).isEqualTo("metadata[" + key + "]")));
        assertThatThrownBy(() -> ConsulFormat.validate(GREETER.toBuilder().metadata("k", "é".repeat(257)).build()))
                .hasMessageContaining("at most 512 bytes");
    }

    @Test
    void sixtyFourPairsPassAndSixtyFiveFail() {
        ServiceInstance.Builder b = ServiceInstance.builder().id("m").name("meta");
        for (int i = 0; i < 64; i++) {
            b.metadata("k" + i, "é".repeat(256));
        }
        ConsulFormat.validate(b.build());
        b.metadata("k64", "v");
        assertThatThrownBy(() -> ConsulFormat.validate(b.build())).isInstanceOf(InvalidInstanceException.class)
                .hasMessageContaining("at most 64 entries");
    }

    @Test
    void durationsAreWrittenAsGoParsesThemInKratosUnits() {
        assertThat(ConsulFormat.goDuration(Duration.ofSeconds(600))).isEqualTo("600s");
        assertThat(ConsulFormat.goDuration(Duration.ofMillis(1500))).isEqualTo("1500ms");
    }

    @Test
    void blockingIndexRules() {
        assertThat(ConsulWatch.nextIndex(0, 42)).as("first answer").isEqualTo(42);
        assertThat(ConsulWatch.nextIndex(42, 43)).as("moved on").isEqualTo(43);
        assertThat(ConsulWatch.nextIndex(42, 42)).as("wait ended, nothing changed").isEqualTo(42);
        assertThat(ConsulWatch.nextIndex(42, 7)).as("went backwards: start over").isZero();
        assertThat(ConsulWatch.nextIndex(0, 0)).as("never 0 after the first answer").isEqualTo(1);
        assertThat(ConsulWatch.nextIndex(42, 0)).as("0 is never waited on, even going backwards").isEqualTo(1);
    }

    private static List<ServiceInstance> read(String json) throws IOException {
        return ConsulFormat.instances(json.getBytes(StandardCharsets.UTF_8), "helloworld");
    }

    /** One health entry as the agent returns it, in a JSON array. */
    private static String entry(String tagged, String address, int port, String tags, String meta) {
        return "[{\"Node\":{\"ID\":\"n\",\"Node\":\"node-1\",\"Address\":\"192.168.1.7\",\"Datacenter\":\"dc1\"},"
                + "\"Service\":{\"ID\":\"" + (tags.contains("version=v1.2.0") ? GREETER.id() : "i-1") + "\","
                + "\"Service\":\"helloworld\",\"Tags\":" + tags + ",\"Address\":\"" + address + "\","
                + "\"TaggedAddresses\":" + tagged + ",\"Meta\":" + meta + ",\"Port\":" + port + ","
                + "\"Weights\":{\"Passing\":1,\"Warning\":1}},"
                + "\"Checks\":[{\"CheckID\":\"serfHealth\",\"Status\":\"passing\"}]}]";
    }

    private static String strip(String array) {
        return array.substring(1, array.length() - 1);
    }
}
