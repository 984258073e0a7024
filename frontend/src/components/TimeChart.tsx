/**
 * A time-series chart on lightweight-charts (about 45 KB gzipped, loaded only by the pages
 * that draw one). Prices arrive as exact strings; they become numbers here, for drawing only.
 */
import {
  ColorType,
  createChart,
  type IChartApi,
  type ISeriesApi,
  type SeriesType,
  type UTCTimestamp,
} from "lightweight-charts";
import { useEffect, useRef } from "react";

import { useTheme } from "../theme/theme";

export interface LinePoint {
  time: number;
  value: number;
}

export interface CandlePoint {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

export type ChartSeries =
  | { kind: "line"; name: string; points: LinePoint[]; colour?: string }
  | { kind: "area"; name: string; points: LinePoint[]; colour?: string }
  | { kind: "candles"; name: string; points: CandlePoint[] }
  | { kind: "volume"; name: string; points: LinePoint[] };

/** Seconds since the epoch for an ISO instant (the charts' time unit). */
export function toTime(iso: string): UTCTimestamp {
  return Math.floor(Date.parse(iso) / 1000) as UTCTimestamp;
}

export function TimeChart({ series, height = 280, label }: { series: ChartSeries[]; height?: number; label: string }) {
  const holder = useRef<HTMLDivElement>(null);
  const chartRef = useRef<IChartApi | null>(null);
  const theme = useTheme((s) => s.theme);

  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const dark = theme === "dark";
    const chart = createChart(element, {
      height,
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: "transparent" },
        textColor: dark ? "#d6dae0" : "#1f2933",
      },
      grid: {
        vertLines: { color: dark ? "#2a3038" : "#eef1f4" },
        horzLines: { color: dark ? "#2a3038" : "#eef1f4" },
      },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    chartRef.current = chart;
    for (const s of series) {
      let api: ISeriesApi<SeriesType>;
      if (s.kind === "candles") {
        api = chart.addCandlestickSeries({ upColor: "#1a7f37", downColor: "#cf222e", wickUpColor: "#1a7f37", wickDownColor: "#cf222e", borderVisible: false });
        api.setData(s.points.map((p) => ({ ...p, time: p.time as UTCTimestamp })));
      } else if (s.kind === "volume") {
        api = chart.addHistogramSeries({ priceScaleId: "volume", color: dark ? "#4b5563" : "#b6c2cf", priceFormat: { type: "volume" } });
        chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
        api.setData(s.points.map((p) => ({ ...p, time: p.time as UTCTimestamp })));
      } else if (s.kind === "area") {
        api = chart.addAreaSeries({ lineColor: s.colour ?? "#cf222e", topColor: "rgba(207,34,46,0.05)", bottomColor: "rgba(207,34,46,0.35)", invertFilledArea: true });
        api.setData(s.points.map((p) => ({ ...p, time: p.time as UTCTimestamp })));
      } else {
        api = chart.addLineSeries({ color: s.colour ?? (dark ? "#58a6ff" : "#0969da"), lineWidth: 2 });
        api.setData(s.points.map((p) => ({ ...p, time: p.time as UTCTimestamp })));
      }
    }
    chart.timeScale().fitContent();
    return () => {
      chart.remove();
      chartRef.current = null;
    };
  }, [series, height, theme]);

  const empty = series.every((s) => s.points.length === 0);
  return (
    <figure className="chart" aria-label={label}>
      {/* The canvas is for sighted use; the caption names it, the pages give the figures as text. */}
      <div ref={holder} style={{ height }} />
      {empty ? <figcaption className="muted">No data in this range yet.</figcaption> : <figcaption className="sr-only">{label}</figcaption>}
    </figure>
  );
}
