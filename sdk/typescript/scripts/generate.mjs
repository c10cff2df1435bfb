// Regenerates the committed OpenAPI document (openapi/v1.json) and the types made from it (src/generated/openapi.ts).
//
//   npm run generate                                   starts a silo (silo/bin/Release: dotnet build silo -c Release)
//   MEMRL_OPENAPI_URL=http://host:port npm run generate  reads a running silo's document instead
//
// The document is written as served less `servers` (the silo's own address), and TypeScriptSdkTests compares it with
// what its silo serves, so any change to the API's contract fails the tests until this is run again and committed.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(sdk, "..", "..");
const documentPath = join(sdk, "openapi", "v1.json");
const generatedPath = join(sdk, "src", "generated", "openapi.ts");

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function fetchDocument(url, deadline) {
  for (;;) {
    try {
      const response = await fetch(`${url}/openapi/v1.json`);
      if (response.ok) {
        return await response.text();
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`no OpenAPI document at ${url}/openapi/v1.json before the deadline`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function fromSilo() {
  const dll = join(root, "silo", "bin", "Release", "net10.0", "MemRL.Silo.dll");
  if (!existsSync(dll)) {
    throw new Error(`${dll} is missing: run 'dotnet build silo -c Release' first, or set MEMRL_OPENAPI_URL`);
  }
  const work = mkdtempSync(join(tmpdir(), "memrl-openapi-"));
  const url = `http://127.0.0.1:${await freePort()}`;
  // The embedded default on free ports and a throwaway data directory, as the test suite starts it.
  const env = {
    ...process.env,
    MemRL__Api__Urls: url,
    MemRL__Api__LocalKeyPath: join(work, "api-key.local"),
    MemRL__Api__LocalKeyRingPath: join(work, "api-keys.json"),
    MemRL__Cluster__SiloPort: String(await freePort()),
    MemRL__Cluster__GatewayPort: String(await freePort()),
    MemRL__Storage__SqlitePath: join(work, "memrl.db"),
  };
  const silo = spawn("dotnet", [dll], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  silo.stdout.on("data", (d) => (log += d));
  silo.stderr.on("data", (d) => (log += d));
  try {
    return await fetchDocument(url, Date.now() + 90_000);
  } catch (error) {
    throw new Error(`${error.message}\nsilo output:\n${log}`);
  } finally {
    silo.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
  }
}

const given = process.env.MEMRL_OPENAPI_URL?.trim();
const text = given ? await fetchDocument(given.replace(/\/+$/, ""), Date.now() + 30_000) : await fromSilo();
const document = JSON.parse(text);
// `servers` is the address the silo happened to listen on, not part of the contract (the test drops it too).
delete document.servers;
mkdirSync(dirname(documentPath), { recursive: true });
writeFileSync(documentPath, JSON.stringify(document, null, 2) + "\n");

mkdirSync(dirname(generatedPath), { recursive: true });
const cli = join(sdk, "node_modules", "openapi-typescript", "bin", "cli.js");
const run = spawnSync(process.execPath, [cli, documentPath, "--output", generatedPath], { cwd: sdk, encoding: "utf8" });
if (run.status !== 0) {
  throw new Error(`openapi-typescript failed:\n${run.stdout}${run.stderr}`);
}
console.log(`wrote ${documentPath} and ${generatedPath}`);
