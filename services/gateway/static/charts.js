// Two small SVG charts, drawn from data with DOM calls (labels are user text: never innerHTML).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgElement(name, attributes = {}, text) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// A round upper bound for an axis: 1, 2 or 5 times a power of ten.
function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((bound) => bound >= value);
}

const countFormat = new Intl.NumberFormat();

function emptyChart(container, message) {
  const note = document.createElement("p");
  note.className = "empty";
  note.textContent = message;
  container.replaceChildren(note);
}

// Horizontal bars, one per row ({label, count}), longest first.
function drawBarChart(container, rows, { emptyMessage = "nothing yet" } = {}) {
  container.dataset.total = String(rows.reduce((sum, row) => sum + row.count, 0));
  container.dataset.bars = String(rows.length);
  if (!rows.length) return emptyChart(container, emptyMessage);
  const width = Math.max(container.clientWidth, 260);
  const barHeight = 22, gap = 6, labelWidth = Math.min(140, width * 0.35), valueWidth = 56;
  const height = rows.length * (barHeight + gap);
  const scale = (width - labelWidth - valueWidth) / niceMax(Math.max(...rows.map((row) => row.count)));
  const svg = svgElement("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                                  "aria-label": "bar chart" });
  rows.forEach((row, index) => {
    const y = index * (barHeight + gap);
    const group = svgElement("g", { class: "bar" });
    group.append(svgElement("title", {}, `${row.label}: ${countFormat.format(row.count)}`));
    group.append(svgElement("text", { x: labelWidth - 8, y: y + barHeight * 0.7, "text-anchor": "end",
                                      class: "label" }, truncate(row.label, 18)));
    group.append(svgElement("rect", { x: labelWidth, y, height: barHeight, rx: 3,
                                      width: Math.max(row.count * scale, 1) }));
    group.append(svgElement("text", { x: labelWidth + row.count * scale + 6, y: y + barHeight * 0.7,
                                      class: "value" }, countFormat.format(row.count)));
    svg.append(group);
  });
  container.replaceChildren(svg);
}

// A line over evenly spaced points ({time: Date, count}), with a light area below it.
function drawLineChart(container, points, { emptyMessage = "nothing yet" } = {}) {
  container.dataset.total = String(points.reduce((sum, point) => sum + point.count, 0));
  container.dataset.points = String(points.length);
  if (!points.length) return emptyChart(container, emptyMessage);
  const width = Math.max(container.clientWidth, 260), height = 220;
  const left = 48, right = 12, top = 12, bottom = 28;
  const top_value = niceMax(Math.max(...points.map((point) => point.count)));
  const x = (index) => left + (points.length === 1 ? 0 : index * (width - left - right) / (points.length - 1));
  const y = (count) => top + (height - top - bottom) * (1 - count / top_value);
  const svg = svgElement("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                                  "aria-label": "line chart" });
  for (const fraction of [0, 0.5, 1]) {
    const value = top_value * fraction;
    svg.append(svgElement("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), class: "grid" }));
    svg.append(svgElement("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis" },
                          countFormat.format(value)));
  }
  const timeLabel = (time) => time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  svg.append(svgElement("text", { x: left, y: height - 8, class: "axis" }, timeLabel(points[0].time)));
  svg.append(svgElement("text", { x: width - right, y: height - 8, "text-anchor": "end", class: "axis" },
                        timeLabel(points[points.length - 1].time)));
  const line = points.map((point, index) => `${index ? "L" : "M"}${x(index).toFixed(1)},${y(point.count).toFixed(1)}`)
    .join(" ");
  svg.append(svgElement("path", { d: `${line} L${x(points.length - 1)},${y(0)} L${x(0)},${y(0)} Z`, class: "area" }));
  svg.append(svgElement("path", { d: line, class: "line" }));
  points.forEach((point, index) => {
    const dot = svgElement("circle", { cx: x(index), cy: y(point.count), r: 2.5, class: "dot" });
    dot.append(svgElement("title", {}, `${timeLabel(point.time)}: ${countFormat.format(point.count)}`));
    svg.append(dot);
  });
  container.replaceChildren(svg);
}

function truncate(text, length) {
  return text.length > length ? text.slice(0, length - 1) + "…" : text;
}
