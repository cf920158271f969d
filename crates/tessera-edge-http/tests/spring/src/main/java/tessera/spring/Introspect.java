package tessera.spring;

import java.util.TreeSet;

import org.springframework.security.core.GrantedAuthority;
import org.springframework.security.oauth2.core.OAuth2AuthenticatedPrincipal;
import org.springframework.security.oauth2.server.resource.introspection.BadOpaqueTokenException;
import org.springframework.security.oauth2.server.resource.introspection.OAuth2IntrospectionException;
import org.springframework.security.oauth2.server.resource.introspection.OpaqueTokenIntrospector;
import org.springframework.security.oauth2.server.resource.introspection.SpringOpaqueTokenIntrospector;

/**
 * What a Spring resource server concludes about a bearer token, using the README's configuration
 * of {@link SpringOpaqueTokenIntrospector} (HTTP Basic, the service token as client secret).
 *
 * <p>Arguments: introspection URI, then tokens to introspect. The service token comes from
 * {@code TESSERA_SERVICE_TOKEN}. One line per token: {@code active <name> <authorities>},
 * {@code inactive}, or {@code error <message>} (the introspector could not get an answer).
 */
public final class Introspect {
    private Introspect() {}

    public static void main(String[] args) {
        OpaqueTokenIntrospector introspector = SpringOpaqueTokenIntrospector
            .withIntrospectionUri(args[0])
            .clientId("my-service")
            .clientSecret(System.getenv("TESSERA_SERVICE_TOKEN"))
            .build();
        for (int i = 1; i < args.length; i++) {
            System.out.println(judge(introspector, args[i]));
        }
    }

    private static String judge(OpaqueTokenIntrospector introspector, String token) {
        try {
            OAuth2AuthenticatedPrincipal principal = introspector.introspect(token);
            TreeSet<String> authorities = new TreeSet<>();
            for (GrantedAuthority authority : principal.getAuthorities()) {
                authorities.add(authority.getAuthority());
            }
            return "active " + principal.getName() + " " + String.join(",", authorities);
        } catch (BadOpaqueTokenException inactive) {
            return "inactive";
        } catch (OAuth2IntrospectionException failed) {
            return "error " + failed.getMessage().replace('\n', ' ');
        }
    }
}
