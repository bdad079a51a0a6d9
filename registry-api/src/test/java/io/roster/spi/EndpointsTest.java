package io.roster.spi;

import org.junit.jupiter.api.Test;

import java.net.URI;

import static org.assertj.core.api.Assertions.assertThat;

class EndpointsTest {

    @Test
    void buildsAndTakesApart() {
        assertThat(Endpoints.of("grpc", "10.0.0.5", 9000)).isEqualTo(URI.create("grpc://10.0.0.5:9000"));
        assertThat(Endpoints.of("grpc", "fe80::1", 9000)).isEqualTo(URI.create("grpc://[fe80::1]:9000"));
        assertThat(Endpoints.of("grpc", "[fe80::1]", 9000)).isEqualTo(URI.create("grpc://[fe80::1]:9000"));
        assertThat(Endpoints.host(URI.create("grpc://[fe80::1]:9000"))).isEqualTo("fe80::1");
        assertThat(Endpoints.host(URI.create("grpc://10.0.0.5:9000"))).isEqualTo("10.0.0.5");
        assertThat(Endpoints.hostPort(URI.create("grpc://[fe80::1]:9000"))).isEqualTo("[fe80::1]:9000");
    }

    @Test
    void readsLeniently() {
        // Kept as written, as Kratos does (it ignores the query, so a legacy isSecure=true stays plaintext).
        assertThat(Endpoints.lenient("http://h:80/")).contains(URI.create("http://h:80/"));
        assertThat(Endpoints.lenient("grpc://h:1?isSecure=true")).contains(URI.create("grpc://h:1?isSecure=true"));
        assertThat(Endpoints.lenient("HTTP://h:1?a=b")).contains(URI.create("http://h:1?a=b"));
        assertThat(Endpoints.lenient("grpc://h:1?isSecure=false#x")).contains(URI.create("grpc://h:1?isSecure=false#x"));
        assertThat(Endpoints.lenient("http://h:1/api")).contains(URI.create("http://h:1/api"));
        assertThat(Endpoints.lenient("http://h:0")).isEmpty();
        assertThat(Endpoints.lenient("h:1")).isEmpty();
        assertThat(Endpoints.lenient("grpc://h")).isEmpty();
        assertThat(Endpoints.lenient(null)).isEmpty();
    }
}
