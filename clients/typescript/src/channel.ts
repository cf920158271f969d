// What a client (and every copy of it) talks to Tessera over: the unary transport (transport.ts),
// which retries the calls that are safe to repeat, and, opened on the first watch, a grpc-js
// channel for server streaming with the same replicas (resolver and pick_first load balancer, each
// replica's TLS checked against its own host name) and credentials.
import { readFileSync } from "node:fs";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { Client, credentials, experimental, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { authority, type ServerAddress } from "./address.js";
import { refused } from "./errors.js";
import { tracingInterceptor } from "./tracing.js";
import { Transport, type TlsMaterial } from "./transport.js";

/**
 * Calls that are safe to repeat, and so retried on UNAVAILABLE (on the next replica when one died).
 * Login, Unlock, IssueToken and Introspect (which may consume a use) are not: the transport re-sends
 * them only when they surely never left the client.
 */
export const RETRIED: ReadonlyArray<readonly [string, string]> = [
  ["tessera.v1.AuthService", "Revoke"],
  ["tessera.v1.AuthService", "CheckNamespace"],
  ["tessera.v1.AuthService", "GetJwks"],
  ["tessera.v1.AuthService", "AcknowledgeRevocations"],
  ["tessera.v1.AdminService", "ListUsers"],
  ["tessera.v1.AdminService", "SetUserDisabled"],
  ["tessera.v1.AdminService", "SetRole"],
  ["tessera.v1.AdminService", "RemoveTotp"],
  ["tessera.v1.AdminService", "ListTokens"],
  ["tessera.v1.AdminService", "GetToken"],
  ["tessera.v1.AdminService", "ListAuditEvents"],
];

const RETRIED_PATHS: ReadonlySet<string> = new Set(RETRIED.map(([service, method]) => `/${service}/${method}`));

/** TLS settings: PEM files, read when the client is built. */
export interface TlsFiles {
  /** CA certificates to trust; omitted: Node's default roots. */
  caFile?: string;
  /** A client certificate chain for mutual TLS (`tessera serve --client-ca`), with keyFile. */
  certFile?: string;
  keyFile?: string;
}

/**
 * The PEM material of TLS, read when the client is built (undefined: plaintext). Without a CA file
 * the roots are grpc-js's: GRPC_DEFAULT_SSL_ROOTS_FILE_PATH when set, else Node's.
 */
export function tlsMaterial(tls: boolean, files: TlsFiles | undefined): TlsMaterial | undefined {
  if (!tls) return undefined;
  if (files && Boolean(files.certFile) !== Boolean(files.keyFile)) {
    throw refused("INVALID_ARGUMENT", "tls", "give the client certificate and its key together");
  }
  const read = (path: string | undefined, what: string) => {
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw refused("INVALID_ARGUMENT", "tls", `reading the ${what} file ${path}: ${(e as Error).message}`);
    }
  };
  let ca = read(files?.caFile, "CA");
  const roots = process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH;
  if (!ca && roots) {
    try {
      ca = readFileSync(roots);
    } catch {
      // As grpc-js: an unreadable default roots file leaves Node's roots.
    }
  }
  return { ca, cert: read(files?.certFile, "certificate"), key: read(files?.keyFile, "key") };
}

function channelCredentials(tls: TlsMaterial | undefined): ChannelCredentials {
  return tls ? credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null) : credentials.createInsecure();
}

const SCHEME = "tessera-replicas";
const LOAD_BALANCER = "tessera_replicas";
// The resolver's map from each resolved address ("ip:port") to the host name its replica was given
// as. The prefix keeps it out of the subchannels' own options.
const REPLICA_NAMES = `${experimental.SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}.tessera_replica_names`;
let registered = false;

/** A fixed list of replicas in order of preference, host names looked up at each resolution. */
class ReplicasResolver implements experimental.Resolver {
  private readonly addresses: { host: string; port: number }[];
  private destroyed = false;

  constructor(
    target: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
  ) {
    this.addresses = target.path.split(",").map((hp) => {
      const at = hp.lastIndexOf(":");
      return { host: hp.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(hp.slice(at + 1)) };
    });
  }

  updateResolution(): void {
    this.destroyed = false;
    void Promise.all(
      this.addresses.map(async ({ host, port }) => {
        const ips = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
        return { name: host, addresses: ips.map((ip) => ({ host: ip, port })) };
      }),
    ).then(
      (resolved) => {
        if (this.destroyed) return;
        const names = new Map<string, string>();
        for (const { name, addresses } of resolved) {
          for (const a of addresses) names.set(experimental.subchannelAddressToString(a), name);
        }
        const endpoints = resolved.map(({ addresses }) => ({ addresses }));
        this.listener(experimental.statusOrFromValue(endpoints), { [REPLICA_NAMES]: names }, null, "");
      },
      (error: Error) => {
        if (!this.destroyed) {
          this.listener(experimental.statusOrFromError({ code: 14, details: `resolving the replicas: ${error.message}` }), {}, null, "");
        }
      },
    );
  }

  destroy(): void {
    this.destroyed = true;
  }

  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return target.path.split(",")[0] ?? "";
  }
}

const PICK_FIRST = experimental.parseLoadBalancingConfig({ pick_first: {} });

/**
 * pick_first over the replicas, whose connections each check the server's certificate against the
 * host name of their own replica: grpc-js checks one name per channel (the target's first host) unless
 * a subchannel is given its own grpc.ssl_target_name_override, which this balancer does.
 */
class ReplicasLoadBalancer implements experimental.LoadBalancer {
  readonly #child: experimental.ChildLoadBalancerHandler;

  constructor(helper: experimental.ChannelControlHelper) {
    this.#child = new experimental.ChildLoadBalancerHandler(
      experimental.createChildChannelControlHelper(helper, {
        createSubchannel: (address, args) => {
          const names = args[REPLICA_NAMES] as Map<string, string> | undefined;
          const name = names?.get(experimental.subchannelAddressToString(address));
          return helper.createSubchannel(address, name === undefined ? args : { ...args, "grpc.ssl_target_name_override": name });
        },
      }),
    );
  }

  updateAddressList(
    endpoints: experimental.StatusOr<experimental.Endpoint[]>,
    _config: experimental.TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    return this.#child.updateAddressList(endpoints, PICK_FIRST, options, resolutionNote);
  }

  exitIdle(): void {
    this.#child.exitIdle();
  }

  resetBackoff(): void {
    this.#child.resetBackoff();
  }

  destroy(): void {
    this.#child.destroy();
  }

  getTypeName(): string {
    return LOAD_BALANCER;
  }
}

class ReplicasLoadBalancingConfig implements experimental.TypedLoadBalancingConfig {
  getLoadBalancerName(): string {
    return LOAD_BALANCER;
  }

  toJsonObject(): object {
    return { [LOAD_BALANCER]: {} };
  }

  static createFromJson(): ReplicasLoadBalancingConfig {
    return new ReplicasLoadBalancingConfig();
  }
}

/** Opens the grpc-js channel: one address dials it directly, several go through the replicas resolver. */
function openChannel(addresses: readonly ServerAddress[], creds: ChannelCredentials, extra: ChannelOptions): Client {
  let target: string;
  let loadBalancer = "pick_first";
  if (addresses.length === 1) {
    target = authority(addresses[0]!);
  } else {
    if (!registered) {
      experimental.registerResolver(SCHEME, ReplicasResolver);
      experimental.registerLoadBalancerType(LOAD_BALANCER, ReplicasLoadBalancer, ReplicasLoadBalancingConfig);
      registered = true;
    }
    target = `${SCHEME}:///${addresses.map(authority).join(",")}`;
    loadBalancer = LOAD_BALANCER;
  }
  const options: ChannelOptions = {
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ [loadBalancer]: {} }] }),
    // Channelz (grpc-js's introspection service, on by default) counts and timestamps every call
    // on the channel and subchannel for a debugging endpoint this client never serves.
    "grpc.enable_channelz": 0,
    ...extra,
  };
  return new Client(target, creds, options);
}

/** The connections of a client and its copies: unary calls' transport, the watches' grpc-js channel. */
export class Connection {
  readonly transport: Transport;
  readonly #addresses: readonly ServerAddress[];
  readonly #tls: TlsMaterial | undefined;
  readonly #tracing: boolean;
  #grpc: Client | undefined;
  #closed = false;

  constructor(addresses: readonly ServerAddress[], tls: TlsMaterial | undefined, tracing: boolean) {
    this.#addresses = addresses;
    this.#tls = tls;
    this.#tracing = tracing;
    this.transport = new Transport(addresses, tls, RETRIED_PATHS, tracing);
  }

  /** The grpc-js channel, opened on first use (a closed client's is shut down: its calls fail). */
  get grpc(): Client {
    if (!this.#grpc) {
      this.#grpc = openChannel(this.#addresses, channelCredentials(this.#tls), this.#tracing ? { interceptors: [tracingInterceptor] } : {});
      if (this.#closed) this.#grpc.close();
    }
    return this.#grpc;
  }

  close(): void {
    this.#closed = true;
    this.transport.close();
    this.#grpc?.close();
  }
}
