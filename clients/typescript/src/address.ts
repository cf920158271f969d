import { isIP } from "node:net";
import { refused } from "./errors.js";

/** The address forms every Tessera client accepts, as an error shows them. */
export const ADDRESS_FORMS = "host:port, http://host:port (plaintext) or https://host:port (TLS), e.g. http://127.0.0.1:50051";

/** One parsed address; tls is undefined for the bare form (plaintext unless TLS is configured). */
export interface ServerAddress {
  host: string;
  port: number;
  tls: boolean | undefined;
}

/** Reads host:port, http://host:port or https://host:port; anything else is INVALID_ARGUMENT "addr". */
export function parseAddress(text: string): ServerAddress {
  const refuse = (why: string) =>
    refused("INVALID_ARGUMENT", "addr", `${JSON.stringify(text)} is not a Tessera address (${why}); use ${ADDRESS_FORMS}`);
  let rest = String(text ?? "").trim();
  let tls: boolean | undefined;
  if (rest.startsWith("https://")) {
    tls = true;
    rest = rest.slice("https://".length);
  } else if (rest.startsWith("http://")) {
    tls = false;
    rest = rest.slice("http://".length);
  } else if (rest.includes("://")) {
    throw refuse("unknown scheme");
  }
  if (rest.endsWith("/")) rest = rest.slice(0, -1);
  if (/[/?#@\s]/.test(rest)) throw refuse("only host and port, no path, query or user");
  const colon = rest.lastIndexOf(":");
  if (colon < 0) throw refuse("the host or port is missing");
  let host = rest.slice(0, colon);
  const port = rest.slice(colon + 1);
  let hostOk: boolean;
  if (host.startsWith("[") && host.endsWith("]")) {
    host = host.slice(1, -1);
    hostOk = isIP(host) === 6;
  } else {
    hostOk = host.length > 0 && !host.includes(":");
  }
  if (!hostOk) throw refuse("the host or port is missing");
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw refuse("the port must be a number from 1 to 65535");
  }
  return { host, port: Number(port), tls };
}

/** host:port as gRPC dials it (IPv6 hosts in brackets). */
export function authority(a: ServerAddress): string {
  return `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}
