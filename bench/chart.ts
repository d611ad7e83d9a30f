/**
 * The benchmark's chart: CPU time per connection at 64 concurrent clients,
 * one horizontal bar per server, grouped by workload, as a standalone SVG.
 *
 * @module
 */

/** The part of a benchmark report the chart needs. */
export interface ChartReport {
  date: string;
  cpus: number;
  results: {
    name: string;
    workload: string;
    runs: { concurrency: number | string; cpu_us_per_connection: number }[];
  }[];
}

const WIDTH = 760;
const LABEL_WIDTH = 260;
const BAR_HEIGHT = 22;
const GAP = 6;

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Renders the report as an SVG bar chart (merhaba's bars highlighted). */
export function renderChart(report: ChartReport): string {
  const bars = report.results.flatMap((result) => {
    const run = result.runs.find((run) => run.concurrency === 64);
    return run ? [{ ...result, value: run.cpu_us_per_connection }] : [];
  });
  const max = Math.max(...bars.map((bar) => bar.value), 1);
  const scale = (WIDTH - LABEL_WIDTH - 70) / max;
  const parts: string[] = [];
  let y = 40;
  for (const workload of [...new Set(bars.map((bar) => bar.workload))]) {
    parts.push(
      `<text x="10" y="${y + 14}" font-weight="bold">${
        workload === "http"
          ? "HTTP request (GET, Connection: close)"
          : workload === "proxy"
          ? "raw TCP behind a PROXY v1 header"
          : workload === "https"
          ? "HTTPS request (wrk, a new TLS connection each)"
          : workload === "udp"
          ? "UDP (one datagram, one back; CPU per datagram)"
          : "raw TCP (send a line, read the greeting)"
      }</text>`,
    );
    y += BAR_HEIGHT + GAP;
    for (
      const bar of bars.filter((bar) => bar.workload === workload).sort((
        a,
        b,
      ) => a.value - b.value)
    ) {
      const color = bar.name.startsWith("merhaba") ? "#c0392b" : "#7f8c8d";
      const width = Math.max(1, bar.value * scale);
      parts.push(
        `<text x="${LABEL_WIDTH - 8}" y="${y + 15}" text-anchor="end">${
          escapeXml(bar.name)
        }</text>`,
        `<rect x="${LABEL_WIDTH}" y="${y}" width="${
          width.toFixed(1)
        }" height="${BAR_HEIGHT}" fill="${color}"/>`,
        `<text x="${(LABEL_WIDTH + width + 6).toFixed(1)}" y="${
          y + 15
        }">${bar.value} µs</text>`,
      );
      y += BAR_HEIGHT + GAP;
    }
    y += GAP * 2;
  }
  const title =
    "Server CPU time per connection, 64 concurrent clients (lower is better)";
  const subtitle =
    `${report.cpus} CPUs, server and load generator on separate cores, ${
      report.date.slice(0, 10)
    }`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${
    y + 30
  }" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>
<text x="10" y="40" fill="#555">${escapeXml(subtitle)}</text>
<g transform="translate(0 20)">
${parts.join("\n")}
</g>
</svg>
`;
}
