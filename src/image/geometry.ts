/** Points and quadrilaterals in picture pixels (y points down), shared by the film finder's steps. */

export interface Corner {
  x: number;
  y: number;
}

/** Corners clockwise from top-left. */
export type Quad = [Corner, Corner, Corner, Corner];

export function distance(a: Corner, b: Corner): number {
  return Math.hypot(b.x - a.x, b.y - a.y);
}

export function isConvexClockwise(quad: Quad): boolean {
  for (let i = 0; i < 4; i++) {
    const a = quad[i] ?? quad[0];
    const b = quad[(i + 1) % 4] ?? quad[0];
    const c = quad[(i + 2) % 4] ?? quad[0];
    // Image y points down, so clockwise on screen gives a positive cross product.
    if ((b.x - a.x) * (c.y - b.y) - (b.y - a.y) * (c.x - b.x) <= 0) return false;
  }
  return true;
}
