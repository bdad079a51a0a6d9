package io.roster.spi;

import org.junit.jupiter.api.Test;

import io.roster.InvalidOptionException;

import java.net.URI;
import java.net.http.HttpClient;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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

    @Test
    void baseUriOfAnAddress() {
        assertThat(Http.baseUri("x", "10.0.0.1", false, 80, 443)).isEqualTo(URI.create("http://10.0.0.1:80/"));
        assertThat(Http.baseUri("x", "10.0.0.1", true, 80, 443)).isEqualTo(URI.create("https://10.0.0.1:443/"));
        assertThat(Http.baseUri("x", "https://h:9", false, 80, 443)).isEqualTo(URI.create("https://h:9/"));
        assertThat(Http.baseUri("x", "[::1]:7", false, 80, 443)).isEqualTo(URI.create("http://[::1]:7/"));
        assertThatThrownBy(() -> Http.baseUri("x", "http://h:1", true, 80, 443))
                .isInstanceOf(InvalidOptionException.class).hasMessage("x option 'tls' is on but the address is http://");
        assertThatThrownBy(() -> Http.baseUri("x", "ftp://h", false, 80, 443))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("x option 'address'");
        assertThatThrownBy(() -> Http.baseUri("x", "http://u@h/p", false, 80, 443))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("no user, path or query");
        assertThatThrownBy(() -> Http.baseUri("x", " ", false, 80, 443)).isInstanceOf(InvalidOptionException.class);
    }
}
