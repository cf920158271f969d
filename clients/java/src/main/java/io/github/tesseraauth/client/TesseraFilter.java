package io.github.tesseraauth.client;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * Guards Servlet applications (Spring Boot among them: register it as a {@code
 * FilterRegistrationBean} or a {@code @Bean Filter}; Spring is no dependency of this artifact). It
 * reads "Authorization: Bearer &lt;token&gt;", asks Tessera and puts the caller's {@link Identity}
 * in the request attribute {@link #IDENTITY_ATTRIBUTE}. Refusals are those of Tessera's HTTP edge
 * (RFC 6750, JSON bodies {"error", "error_description", "tessera_reason"}, Cache-Control:
 * no-store):
 *
 * <ul>
 *   <li>401 invalid_token: no bearer token, or one Tessera says is not active (revoked, expired…);
 *   <li>400 invalid_request: a malformed Authorization header, or an identifier Tessera refuses;
 *   <li>403 insufficient_scope: outside the caller's namespace;
 *   <li>503 with Retry-After: Tessera cannot answer, is busy, or refuses the guard's own token.
 * </ul>
 */
public final class TesseraFilter implements Filter {
  /** The request attribute holding the caller's {@link Identity}. */
  public static final String IDENTITY_ATTRIBUTE = Identity.class.getName();

  private final Guard guard;
  private final Function<HttpServletRequest, Access> rule;

  /** A filter that asks only for an active token. */
  public TesseraFilter(TesseraClient client) {
    this(client, request -> Access.NONE);
  }

  /** A filter whose rule names what each request touches (e.g. from its path). */
  public TesseraFilter(TesseraClient client, Function<HttpServletRequest, Access> rule) {
    this.guard = new Guard(client);
    this.rule = rule;
  }

  /** The identity the filter stored for {@code request}, or null outside a guarded request. */
  public static Identity identity(ServletRequest request) {
    return (Identity) request.getAttribute(IDENTITY_ATTRIBUTE);
  }

  @Override
  public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
      throws IOException, ServletException {
    HttpServletRequest request = (HttpServletRequest) req;
    HttpServletResponse response = (HttpServletResponse) res;
    List<String> values = Collections.list(request.getHeaders("Authorization"));
    Object bearer = Guard.bearer(values);
    Guard.Decision d;
    if (bearer instanceof Guard.Decision) {
      d = (Guard.Decision) bearer;
    } else {
      d = guard.authorize((String) bearer, rule.apply(request));
      if (d.verdict() == Guard.Verdict.ALLOWED) {
        request.setAttribute(IDENTITY_ATTRIBUTE, d.identity());
        chain.doFilter(req, res);
        return;
      }
    }
    refuse(response, d);
  }

  private static void refuse(HttpServletResponse response, Guard.Decision d) throws IOException {
    int status = 503;
    String code = "temporarily_unavailable";
    String challenge = "";
    switch (d.verdict()) {
      case NO_TOKEN:
      case INVALID_TOKEN:
        status = 401;
        code = "invalid_token";
        challenge = code;
        break;
      case MALFORMED:
        status = 400;
        code = "invalid_request";
        challenge = code;
        break;
      case BAD_REQUEST:
        status = 400;
        code = "invalid_request";
        break;
      case OUT_OF_SCOPE:
        status = 403;
        code = "insufficient_scope";
        challenge = code;
        break;
      default:
        response.setHeader("Retry-After", "1");
    }
    StringBuilder body =
        new StringBuilder("{\"error\":")
            .append(json(code))
            .append(",\"error_description\":")
            .append(json(d.detail()));
    Reason reason =
        d.reason() != null
            ? d.reason()
            : d.verdict() == Guard.Verdict.INVALID_TOKEN
                ? Reason.AUTH_FAILED
                : d.verdict() == Guard.Verdict.NO_TOKEN
                    ? Reason.AUTH_REQUIRED
                    : d.verdict() == Guard.Verdict.OUT_OF_SCOPE ? Reason.AUTH_DENIED : null;
    if (reason != null) {
      body.append(",\"tessera_reason\":").append(json(reason.wire().toLowerCase(Locale.ROOT)));
    }
    if (!d.field().isEmpty()) {
      body.append(",\"field\":").append(json(d.field()));
    }
    body.append("}");
    if (!challenge.isEmpty()) {
      response.setHeader(
          "WWW-Authenticate",
          "Bearer realm=\"tessera\", error=\""
              + challenge
              + "\", error_description=\""
              + d.detail().replace('"', '\'').replace('\\', '\'')
              + "\"");
    }
    response.setStatus(status);
    response.setHeader("Cache-Control", "no-store");
    response.setHeader("X-Content-Type-Options", "nosniff");
    response.setContentType("application/json");
    byte[] bytes = body.toString().getBytes(StandardCharsets.UTF_8);
    response.setContentLength(bytes.length);
    response.getOutputStream().write(bytes);
  }

  private static String json(String text) {
    StringBuilder out = new StringBuilder("\"");
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '"' || c == '\\') {
        out.append('\\').append(c);
      } else if (c < 0x20) {
        out.append(String.format("\\u%04x", (int) c));
      } else {
        out.append(c);
      }
    }
    return out.append('"').toString();
  }
}
