package io.roster.spi;

import org.junit.jupiter.api.Test;

import java.net.http.HttpClient;

import static org.assertj.core.api.Assertions.assertThat;

class HttpTest {

    @Test
    void encodesEverythingButUnreservedAndColon() {
        assertThat(Http.pathSegment("10.0.0.5:GREETER:9000")).isEqualTo("10.0.0.5:GREETER:9000");
        assertThat(Http.pathSegment("a/b c?d#e%f&g=h+i")).isEqualTo("a%2Fb%20c%3Fd%23e%25f%26g%3Dh%2Bi");
        assertThat(Http.pathSegment("A-z_0.9~")).isEqualTo("A-z_0.9~");
        assertThat(Http.pathSegment("é\uD83D\uDE00")).isEqualTo("%C3%A9%F0%9F%98%80");
    }

    @Test
    void shutdownIsSafeOnEveryJavaAndForNull() {
        Http.shutdown(null);
        HttpClient client = HttpClient.newHttpClient();
        Http.shutdown(client);
        Http.shutdown(client);
    }
}
