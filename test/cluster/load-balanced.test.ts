/**
 * The proof of "beyond one machine": a real S3 server (Ceph RGW), a real redis-server, three Berth
 * replicas as separate processes sharing storage, Redis and http.secret, and haproxy in front
 * (round-robin, no stickiness). skopeo pushes and pulls real images through the balancer; the
 * replicas' access logs show one upload's requests landing on different replicas; one replica is
 * killed with SIGKILL in the middle of a large push and the push completes through the others.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CephRgw, startCephRgw } from '../helpers/ceph-rgw.js';
import { type BuiltImage, createOciLayout, type OciLayout, readOciLayout, smallLayers } from '../helpers/images.js';
import { CommandError, inspectRaw, skopeo } from '../helpers/tools.js';
import { type RedisServer, startRedisServer } from '../redis/redis-server.js';
import { type Haproxy, type LogLine, type Replica, startHaproxy, startReplica } from './processes.js';

const LARGE_LAYER = 96 * 1024 * 1024;

/** The upload session id of an access-log line on `/v2/<name>/blobs/uploads/<id>`, if it is one. */
function uploadId(line: LogLine): string | undefined {
  return /\/blobs\/uploads\/([0-9a-f-]{36})$/.exec(line.path ?? '')?.[1];
}

describe('Berth replicas behind haproxy over S3 and Redis', { timeout: 600_000 }, () => {
  let work: string;
  let rgw: CephRgw;
  let redis: RedisServer;
  let replicas: Replica[] = [];
  let lb: Haproxy;
  let layout: OciLayout;
  const images = new Map<string, BuiltImage>();

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-lb-'));
    [rgw, redis] = await Promise.all([startCephRgw(), startRedisServer()]);
    const bucket = await rgw.createBucket('lb');
    const config = {
      version: '0.1',
      log: { level: 'info', formatter: 'json' },
      storage: {
        s3: rgw.parameters(bucket, '/registry'),
        cache: { blobdescriptor: 'redis' },
        delete: { enabled: true },
      },
      redis: { addr: redis.addr, dialtimeout: '1s', readtimeout: '500ms', writetimeout: '500ms' },
      http: { secret: randomBytes(24).toString('hex'), workers: 1 },
    };
    replicas = await Promise.all(['r1', 'r2', 'r3'].map((name) => startReplica(work, name, config)));
    lb = await startHaproxy(
      work,
      replicas.map((r) => ({ name: r.name, port: r.port })),
    );
    layout = await createOciLayout(join(work, 'src'));
    for (const name of ['alpha', 'beta']) {
      images.set(name, await layout.addImage({ tag: name, layers: smallLayers(name) }));
    }
    images.set(
      'large',
      await layout.addImage({
        tag: 'large',
        layers: [{ files: { 'large.txt': 'large\n' } }, { randomBytes: LARGE_LAYER, seed: 'lb-large' }],
      }),
    );
  });

  after(async () => {
    await lb?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all([redis?.stop(), rgw?.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  /** Pulls `tag` back through the balancer and compares every digest with what was built. */
  async function pullAndCompare(repository: string, tag: string): Promise<void> {
    const image = images.get(tag);
    assert.ok(image);
    const ref = `docker://${lb.host}/${repository}:${tag}`;
    const raw = await inspectRaw(ref);
    assert.equal(raw.digest, image.manifest.digest, `${tag}: manifest digest through the balancer`);
    const out = join(work, `pull-${repository.replaceAll('/', '-')}-${tag}`);
    await rm(out, { recursive: true, force: true });
    await skopeo('copy', [ref, `oci:${out}:${tag}`], { timeoutMs: 300_000 });
    const pulled = await readOciLayout(out, tag);
    assert.equal(pulled.digest, image.manifest.digest);
    assert.equal(pulled.json.config?.digest, image.config.digest);
    assert.deepEqual(
      pulled.json.layers?.map((l) => l.digest),
      image.layers.map((l) => l.digest),
    );
    for (const layer of image.layers) assert.ok(pulled.blobs.has(layer.digest), `${tag}: ${layer.digest} pulled`);
  }

  test('skopeo pushes and pulls through the balancer; one upload’s requests land on different replicas', async (t) => {
    for (const tag of ['alpha', 'beta']) {
      await skopeo('copy', [layout.ref(tag), `docker://${lb.host}/lb/app:${tag}`]);
    }
    for (const tag of ['alpha', 'beta']) await pullAndCompare('lb/app', tag);

    // Which replica served each request of each upload session, from the replicas' own logs.
    const byUpload = new Map<string, Set<string>>();
    for (const replica of replicas) {
      for (const line of replica.requests()) {
        const id = uploadId(line);
        if (id === undefined || (line.method !== 'PATCH' && line.method !== 'PUT')) continue;
        const served = byUpload.get(id) ?? new Set<string>();
        served.add(replica.name);
        byUpload.set(id, served);
      }
    }
    const spread = [...byUpload.values()].filter((served) => served.size > 1).length;
    t.diagnostic(`${spread} of ${byUpload.size} uploads had their PATCH and PUT served by different replicas`);
    assert.ok(byUpload.size >= 4, `uploads seen in the access logs: ${byUpload.size}`);
    assert.ok(spread >= 1, 'at least one upload continued on another replica');
    for (const replica of replicas) assert.ok(replica.requests().length > 0, `${replica.name} served requests`);
  });

  test('a replica killed in the middle of a large push: the retry completes through the others', async (t) => {
    const before = await Promise.all(replicas.map((r) => r.bytesRead()));
    const push = skopeo('copy', ['--retry-times', '3', layout.ref('large'), `docker://${lb.host}/lb/large:large`], {
      timeoutMs: 400_000,
    });
    // The replica streaming the large layer is the one whose reads grow by many MiB.
    let victim: Replica | undefined;
    const deadline = Date.now() + 120_000;
    while (victim === undefined && Date.now() < deadline) {
      const now = await Promise.all(replicas.map((r) => r.bytesRead()));
      const index = now.findIndex((bytes, i) => bytes - (before[i] ?? 0) > 16 * 1024 * 1024);
      if (index >= 0) victim = replicas[index];
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(victim, 'found the replica receiving the large layer');
    victim.kill();
    t.diagnostic(`killed ${victim.name} (pid ${victim.pid}) while it received the large layer`);

    let attempts = 1;
    try {
      await push;
    } catch (error) {
      // skopeo's own retries did not cover this failure: the operator's retry is running it again.
      assert.ok(error instanceof CommandError, String(error));
      t.diagnostic(`first push failed (${error.stderr.trim().split('\n').at(-1)}); running it again`);
      attempts = 2;
      await skopeo('copy', [layout.ref('large'), `docker://${lb.host}/lb/large:large`], { timeoutMs: 400_000 });
    }
    t.diagnostic(`large push completed after ${attempts} skopeo run(s)`);
    const survivors = replicas.filter((r) => r !== victim);
    const committedBy = survivors.filter((r) =>
      r.requests().some((l) => l.method === 'PUT' && uploadId(l) !== undefined && l.status === 201),
    );
    assert.ok(committedBy.length > 0, 'the surviving replicas committed uploads');

    await pullAndCompare('lb/large', 'large');
    for (const tag of ['alpha', 'beta']) await pullAndCompare('lb/app', tag);
  });
});
