package io.roster.eureka;

import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

/** The Eureka layout both ways, without a server: the exact JSON written, and what is read from other clients. */
class EurekaInstancesTest {
    private static final String DATA_CENTER = "\"dataCenterInfo\":{\"name\":\"MyOwn\","
            + "\"@class\":\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\"}";

    /**
     * Golden: what Kratos's Go registry sends for an instance with two endpoints and metadata (its struct's field
     * order, metadata keys sorted as Go sorts them), each Eureka instance with its own endpoint (not Kratos bug
     * #3818's last one) and the address as {@code hostName} (not Kratos's app name, which Spring Cloud consumers
     * would dial), plus Roster's agent name and the lease fields Kratos leaves out.
     */
    @Test
    void registrationJsonIsKratosFormatWithEachEndpointInItsOwnInstance() {
        ServiceInstance instance = ServiceInstance.builder()
                .id("6c4b9c2e-0f3a-11ef-9d8a-0242ac120002")
                .name("helloworld")
                .version("v1.2.0")
                .metadata("region", "eu-west")
                .metadata("weight", "80")
                .endpoint("grpc://10.0.0.5:9000")
                .endpoint("http://10.0.0.5:8000")
                .build();

        List<EurekaInstances.Record> records = EurekaInstances.records(instance, 10, 30);

        assertThat(records).extracting(EurekaInstances.Record::app).containsExactly("HELLOWORLD", "HELLOWORLD");
        assertThat(records).extracting(EurekaInstances.Record::instanceId)
                .containsExactly("10.0.0.5:HELLOWORLD:9000", "10.0.0.5:HELLOWORLD:8000");
        assertThat(records.get(0).json()).isEqualTo(golden("grpc://10.0.0.5:9000", 9000));
        assertThat(records.get(1).json()).isEqualTo(golden("http://10.0.0.5:8000", 8000));
    }

    private static String golden(String endpoint, int port) {
        return "{\"instance\":{\"instanceId\":\"10.0.0.5:HELLOWORLD:" + port + "\",\"hostName\":\"10.0.0.5\","
                + "\"port\":{\"$\":" + port + ",\"@enabled\":\"true\"},\"app\":\"HELLOWORLD\",\"ipAddr\":\"10.0.0.5\","
                + "\"vipAddress\":\"HELLOWORLD\",\"status\":\"UP\",\"securePort\":{\"$\":443,\"@enabled\":\"false\"},"
                + "\"homePageUrl\":\"" + endpoint + "/\",\"statusPageUrl\":\"" + endpoint + "/info\","
                + "\"healthCheckUrl\":\"" + endpoint + "/health\"," + DATA_CENTER + ","
                + "\"metadata\":{\"Endpoints\":\"" + endpoint + "\",\"ID\":\"6c4b9c2e-0f3a-11ef-9d8a-0242ac120002\","
                + "\"Name\":\"helloworld\",\"Version\":\"v1.2.0\",\"agent\":\"roster-eureka\",\"region\":\"eu-west\","
                + "\"weight\":\"80\"},"
                + "\"leaseInfo\":{\"renewalIntervalInSecs\":10,\"durationInSecs\":30}}}";
    }

    @Test
    void kratosMetadataOverridesAreHonoured() {
        ServiceInstance instance = ServiceInstance.builder().id("i").name("svc")
                .metadata("securePort", "8443").metadata("healthCheckURL", "http://10.0.0.5:8000/ready")
                .endpoint("http://10.0.0.5:8000").build();

        String json = EurekaInstances.records(instance, 10, 30).get(0).json();

        assertThat(json).contains("\"securePort\":{\"$\":8443,\"@enabled\":\"false\"}")
                .contains("\"healthCheckUrl\":\"http://10.0.0.5:8000/ready\"")
                .contains("\"homePageUrl\":\"http://10.0.0.5:8000/\"");
    }

    @Test
    void appNameIsUpperCasedAsGoDoes() {
        assertThat(EurekaInstances.app("helloworld")).isEqualTo("HELLOWORLD");
        assertThat(EurekaInstances.app("straße-v1.2")).isEqualTo("STRAßE-V1.2"); // Java's toUpperCase says STRASSE
    }

    @Test
    void ipv6EndpointKeepsBracketsInTheIdButNotInTheAddress() {
        ServiceInstance instance = ServiceInstance.builder().id("i").name("svc").endpoint("grpc://[::1]:9000").build();

        EurekaInstances.Record record = EurekaInstances.records(instance, 10, 30).get(0);

        assertThat(record.instanceId()).isEqualTo("[::1]:SVC:9000");
        assertThat(record.json()).contains("\"ipAddr\":\"::1\"");
        assertThat(io.roster.spi.Http.pathSegment(record.instanceId())).isEqualTo("%5B::1%5D:SVC:9000");
    }

    @Test
    void backendRulesAreChecked() {
        ServiceInstance.Builder base = ServiceInstance.builder().id("i").name("svc").endpoint("grpc://10.0.0.1:1");
        assertThatThrownBy(() -> EurekaInstances.validate(base.build().toBuilder().metadata("Version", "x").build()))
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("metadata[Version]");
        assertThatThrownBy(() -> EurekaInstances.validate(ServiceInstance.builder().name("svc").build()))
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("endpoints");
        assertThatThrownBy(() -> EurekaInstances.validate(base.build().toBuilder().name("a;b").build()))
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("';'");
    }

    @Test
    void readsRegroupSkipAndFilter() {
        String body = "{\"application\":{\"name\":\"SVC\",\"instance\":["
                // one Roster/Kratos instance, two endpoints, written at different times
                + kratos("10.0.0.5:SVC:8000", "http://10.0.0.5:8000", "k-1", "v1", "\"color\":\"old\"", "UP", 100)
                + "," + kratos("10.0.0.5:SVC:9000", "grpc://10.0.0.5:9000", "k-1", "v2", "\"color\":\"new\"", "UP", 200)
                // Kratos #3818: every record of an instance carries the same (last) endpoint
                + "," + kratos("10.0.0.6:SVC:9000", "http://10.0.0.6:8000", "k-2", "v1", "", "UP", 1)
                + "," + kratos("10.0.0.6:SVC:8000", "http://10.0.0.6:8000", "k-2", "v1", "", "UP", 1)
                // not UP
                + "," + kratos("10.0.0.7:SVC:9000", "grpc://10.0.0.7:9000", "k-3", "v1", "", "DOWN", 1)
                // an id the core rules refuse for writing, read as written
                + "," + kratos("10.0.0.8:SVC:9000", "grpc://10.0.0.8:9000", "bad/id", "v1", "", "UP", 1)
                // an endpoint without a port: unusable
                + "," + kratos("10.0.0.4:SVC:0", "grpc://10.0.0.4", "k-4", "v1", "", "UP", 1)
                // a Spring Cloud client, empty metadata as Eureka's codec writes it, secure port enabled
                + ",{\"instanceId\":\"host-a:svc:8080\",\"hostName\":\"host-a\",\"app\":\"SVC\","
                + "\"ipAddr\":\"10.0.0.9\","
                + "\"status\":\"UP\",\"port\":{\"$\":8080,\"@enabled\":\"true\"},"
                + "\"securePort\":{\"$\":\"8443\",\"@enabled\":true},"
                + "\"metadata\":{\"@class\":\"java.util.Collections$EmptyMap\"}}"
                + "]}}";
        List<String> skipped = new ArrayList<>();

        List<ServiceInstance> up = EurekaInstances.read("svc", bytes(body), true, (id, why) -> skipped.add(id));

        assertThat(up).containsExactly(
                ServiceInstance.builder().name("svc").id("bad/id").version("v1").endpoint("grpc://10.0.0.8:9000")
                        .buildLenient(),
                ServiceInstance.builder().name("svc").id("host-a:svc:8080")
                        .endpoint("http://10.0.0.9:8080").endpoint("https://10.0.0.9:8443").build(),
                ServiceInstance.builder().name("svc").id("k-1").version("v2").metadata("color", "new")
                        .endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000").build(),
                ServiceInstance.builder().name("svc").id("k-2").version("v1").endpoint("http://10.0.0.6:8000").build());
        assertThat(skipped).containsExactly("10.0.0.4:SVC:0");

        List<ServiceInstance> any = EurekaInstances.read("svc", bytes(body), false, (id, why) -> { });
        assertThat(any).extracting(ServiceInstance::id).contains("k-3");
    }

    /**
     * Golden: what Go Kratos writes for a service whose version has a space, whose metadata has an empty key, with
     * an endpoint with a path and a legacy {@code ?isSecure=} one (hostName is the app name, as Kratos writes it).
     * Kratos reads all of it; so does Roster, as written.
     */
    @Test
    void kratosRecordsAreReadAsWritten() {
        String body = "{\"application\":{\"name\":\"_PRIVATE.SVC\",\"instance\":["
                + goKratos("10.0.0.1:_PRIVATE.SVC:8000", "http://10.0.0.1:8000/api", "10.0.0.1", 8000) + ","
                + goKratos("10.0.0.1:_PRIVATE.SVC:9000", "grpc://10.0.0.1:9000?isSecure=false", "10.0.0.1", 9000)
                + "]}}";
        List<String> skipped = new ArrayList<>();

        List<ServiceInstance> read = EurekaInstances.read("_private.svc", bytes(body), true,
                (id, why) -> skipped.add(id + ": " + why));

        assertThat(skipped).isEmpty();
        assertThat(read).hasSize(1);
        ServiceInstance instance = read.get(0);
        assertThat(instance.name()).isEqualTo("_private.svc");
        assertThat(instance.id()).isEqualTo("go-1");
        assertThat(instance.version()).isEqualTo("v1.0 beta");
        assertThat(instance.metadata()).containsExactly(entry("", "empty key"), entry("region", "eu"));
        assertThat(instance.endpoints()).extracting(Object::toString)
                .containsExactly("grpc://10.0.0.1:9000?isSecure=false", "http://10.0.0.1:8000/api");
    }

    private static String goKratos(String instanceId, String endpoint, String ip, int port) {
        return "{\"instanceId\":\"" + instanceId + "\",\"hostName\":\"_PRIVATE.SVC\",\"port\":{\"$\":" + port
                + ",\"@enabled\":\"true\"},\"app\":\"_PRIVATE.SVC\",\"ipAddr\":\"" + ip + "\",\"vipAddress\":"
                + "\"_PRIVATE.SVC\",\"status\":\"UP\",\"securePort\":{\"$\":443,\"@enabled\":\"false\"},"
                + "\"homePageUrl\":\"" + endpoint + "/\",\"statusPageUrl\":\"" + endpoint + "/info\","
                + "\"healthCheckUrl\":\"" + endpoint + "/health\"," + DATA_CENTER + ",\"metadata\":{\"\":\"empty key\","
                + "\"Endpoints\":\"" + endpoint + "\",\"ID\":\"go-1\",\"Name\":\"_private.svc\","
                + "\"Version\":\"v1.0 beta\",\"agent\":\"go-eureka-client\",\"region\":\"eu\"}}";
    }

    /**
     * Golden: what Spring Cloud Netflix's Eureka client (4.x) registers, as the server lists it: host name and
     * address differ, the secure port is off, metadata carries Spring's keys and a {@code version}.
     */
    @Test
    void springRecordIsReadAsWritten() {
        String body = "{\"application\":{\"name\":\"GREETER\",\"instance\":[{\"instanceId\":"
                + "\"host-a.example:greeter:8080\",\"hostName\":\"host-a.example\",\"app\":\"GREETER\","
                + "\"ipAddr\":\"10.1.0.7\",\"status\":\"UP\",\"overriddenStatus\":\"UNKNOWN\",\"port\":{\"$\":8080,"
                + "\"@enabled\":\"true\"},\"securePort\":{\"$\":443,\"@enabled\":\"false\"},\"countryId\":1,"
                + "\"dataCenterInfo\":{\"@class\":\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\","
                + "\"name\":\"MyOwn\"},\"leaseInfo\":{\"renewalIntervalInSecs\":30,\"durationInSecs\":90,"
                + "\"registrationTimestamp\":1767139200000,\"lastRenewalTimestamp\":1767139230000,"
                + "\"evictionTimestamp\":0,\"serviceUpTimestamp\":1767139200000},\"metadata\":{"
                + "\"management.port\":\"8081\",\"version\":\"2.4.1 (build 7)\"},\"homePageUrl\":"
                + "\"http://host-a.example:8080/\",\"statusPageUrl\":\"http://host-a.example:8080/actuator/info\","
                + "\"healthCheckUrl\":\"http://host-a.example:8080/actuator/health\",\"vipAddress\":\"greeter\","
                + "\"secureVipAddress\":\"greeter\",\"isCoordinatingDiscoveryServer\":\"false\","
                + "\"lastUpdatedTimestamp\":\"1767139200000\",\"lastDirtyTimestamp\":\"1767139199000\","
                + "\"actionType\":\"ADDED\"}]}}";

        List<ServiceInstance> read = EurekaInstances.read("greeter", bytes(body), true, (id, why) -> { });

        assertThat(read).containsExactly(ServiceInstance.builder().name("greeter").id("host-a.example:greeter:8080")
                .version("2.4.1 (build 7)").metadata("management.port", "8081").metadata("version", "2.4.1 (build 7)")
                .endpoint("http://10.1.0.7:8080").buildLenient());
    }

    @Test
    void serviceNamesAreKratosNamesOrLowerCasedApplications() {
        assertThat(EurekaInstances.serviceName("GREETER", "Greeter")).contains("Greeter");
        assertThat(EurekaInstances.serviceName("SPRING-APP", null)).contains("spring-app");
        // A Name that does not map to its application is not what getService would find it under.
        assertThat(EurekaInstances.serviceName("OTHER", "greeter")).contains("other");
        // The server upper-cases with Java's toUpperCase ("ß" becomes "SS"); Go's keeps "ß".
        assertThat(EurekaInstances.serviceName("STRASSE", "straße")).contains("straße");
    }

    /** Streaming, without trees: what changes on a renewal does not change the hash; anything else does. */
    @Test
    void scannedHashIgnoresRenewalsOnly() {
        String record = kratos("10.0.0.5:SVC:9000", "grpc://10.0.0.5:9000", "k-1", "v1", "", "UP", 1);
        String renewed = record.replace("{\"instanceId\"", "{\"leaseInfo\":{\"lastRenewalTimestamp\":42},"
                + "\"lastUpdatedTimestamp\":\"7\",\"actionType\":\"MODIFIED\",\"instanceId\"");
        String changed = record.replace("\"v1\"", "\"v2\"");
        String down = record.replace("\"UP\"", "\"DOWN\"");
        List<EurekaInstances.Scanned> scanned = new ArrayList<>();
        String body = "{\"applications\":{\"apps__hashcode\":\"UP_3_DOWN_1_\",\"application\":[{\"name\":\"SVC\","
                + "\"instance\":[" + String.join(",", record, renewed, changed, down) + "]}]}}";

        String hash = EurekaInstances.scan(bytes(body), scanned::add);

        assertThat(hash).isEqualTo("UP_3_DOWN_1_");
        assertThat(scanned).extracting(EurekaInstances.Scanned::instanceId).containsOnly("10.0.0.5:SVC:9000");
        assertThat(scanned.get(1).hash()).isEqualTo(scanned.get(0).hash());
        assertThat(scanned.get(1).actionType()).isEqualTo("MODIFIED");
        assertThat(scanned.get(2).hash()).isNotEqualTo(scanned.get(0).hash());
        assertThat(scanned.get(3).hash()).isNotEqualTo(scanned.get(0).hash());
        assertThat(scanned.get(0).name()).isEqualTo("svc");
        assertThat(scanned.get(2).entry(bytes(body)).json().path("metadata").path("Version").asText())
                .isEqualTo("v2");
    }

    @Test
    void aSingleInstanceWrittenAsAnObjectIsRead() {
        String body = "{\"application\":{\"name\":\"SVC\",\"instance\":"
                + kratos("10.0.0.5:SVC:9000", "grpc://10.0.0.5:9000", "k-1", "v1", "", "UP", 1) + "}}";

        assertThat(EurekaInstances.read("svc", bytes(body), true, (id, why) -> { }))
                .extracting(ServiceInstance::id).containsExactly("k-1");
    }

    private static String kratos(String instanceId, String endpoint, String id, String version, String extra,
                                 String status, long dirty) {
        return "{\"instanceId\":\"" + instanceId + "\",\"app\":\"SVC\",\"status\":\"" + status + "\","
                + "\"lastDirtyTimestamp\":\"" + dirty + "\",\"metadata\":{\"Endpoints\":\"" + endpoint + "\","
                + "\"ID\":\"" + id + "\",\"Name\":\"svc\",\"Version\":\"" + version + "\","
                + "\"agent\":\"go-eureka-client\""
                + (extra.isEmpty() ? "" : "," + extra) + "}}";
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
