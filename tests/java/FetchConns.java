// GET /conns over HTTPS with Java's own HttpClient and the JVM's default trust settings: what the
// AQtive Guard Java integration does. Usage: java FetchConns BASE_URL (token in $TANIUM_TOKEN).
// Exit 0 with the HTTP status and body on stdout; 2 when the TLS handshake fails (message on stderr).

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import javax.net.ssl.SSLException;

public class FetchConns {
    public static void main(String[] args) throws Exception {
        String url = args[0] + "/plugin/products/threat-response/api/v1/conns";
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(url))
                .header("session", System.getenv("TANIUM_TOKEN"))
                .timeout(Duration.ofSeconds(20))
                .GET()
                .build();
        try {
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            System.out.println(response.statusCode());
            System.out.println(response.body());
            System.exit(response.statusCode() == 200 ? 0 : 1);
        } catch (SSLException e) {
            System.err.println("TLS: " + e.getMessage());
            System.exit(2);
        }
    }
}
