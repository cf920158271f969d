package io.github.tesseraauth.client;

import java.time.Duration;
import java.util.List;

/**
 * The inputs of IssueToken. Every bound defaults to the caller's own and can never exceed it
 * ({@link Reason#PRIVILEGE_EXCEEDED}).
 *
 * @param ttl {@code null} or zero: the server's default, capped by the caller's life
 * @param maxUses 0: no limit of its own; 1: single use
 * @param namespace such as "deploy." or "*"; empty: the caller's
 * @param permissions such as "introspect"; empty: the caller's
 * @param jwt a JWT instead of an opaque token
 * @param service a service token (tsr_svc_) instead of an API token; it must not hold admin rights
 */
public record IssueParams(
    Duration ttl,
    int maxUses,
    String namespace,
    List<String> permissions,
    String description,
    boolean jwt,
    boolean service) {

  /** An API token with the caller's scope, lasting {@code ttl}. */
  public static IssueParams ttl(Duration ttl) {
    return new IssueParams(ttl, 0, "", List.of(), "", false, false);
  }

  public IssueParams withMaxUses(int uses) {
    return new IssueParams(ttl, uses, namespace, permissions, description, jwt, service);
  }

  public IssueParams withNamespace(String ns) {
    return new IssueParams(ttl, maxUses, ns, permissions, description, jwt, service);
  }

  public IssueParams withPermissions(List<String> perms) {
    return new IssueParams(ttl, maxUses, namespace, List.copyOf(perms), description, jwt, service);
  }

  public IssueParams withDescription(String text) {
    return new IssueParams(ttl, maxUses, namespace, permissions, text, jwt, service);
  }

  public IssueParams asJwt() {
    return new IssueParams(ttl, maxUses, namespace, permissions, description, true, service);
  }

  public IssueParams asService() {
    return new IssueParams(ttl, maxUses, namespace, permissions, description, jwt, true);
  }
}
