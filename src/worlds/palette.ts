/**
 * Named colour themes for the worlds. The theme name goes into each frame's state so captions
 * ("a platformer level at night") can be written from it; the player keeps a colour that stands
 * out against every theme's sky, scenery and platforms.
 */
import { rgb } from "./raster.js";

/** Far scenery silhouettes, drawn at depth 1 with strong parallax. */
export type FarStyle = "hills" | "mountains" | "buildings" | "dunes" | "pines" | "stalactites";
/** Mid scenery silhouettes, drawn at depth 0.7 with medium parallax. */
export type MidStyle = "bushes" | "trees" | "houses" | "cacti" | "rocks";

export interface PlatformerTheme {
  /** Caption-ready name: "day", "night", ... */
  name: string;
  /** Sky gradient, top row and horizon row. */
  skyTop: number;
  skyBottom: number;
  /** Scatter small stars in the sky (night-like themes). */
  stars: boolean;
  farStyle: FarStyle;
  farColor: number;
  /** Lit windows / snow caps / highlights on the far layer. */
  farAccent: number;
  midStyle: MidStyle;
  midColor: number;
  /** Ground: the top strip (grass, sand, snow) and the body. */
  groundTop: number;
  groundBody: number;
  /** Floating platforms. */
  platform: number;
  platformEdge: number;
  coin: number;
  coinRim: number;
  enemy: number;
  /** Player body (shirt) and detail (trousers/cap); chosen to contrast with this theme. */
  player: number;
  playerDetail: number;
}

export const PLATFORMER_THEMES: readonly PlatformerTheme[] = [
  {
    name: "day",
    skyTop: rgb(90, 150, 235), skyBottom: rgb(185, 220, 255), stars: false,
    farStyle: "hills", farColor: rgb(120, 175, 120), farAccent: rgb(150, 200, 140),
    midStyle: "bushes", midColor: rgb(60, 140, 70),
    groundTop: rgb(70, 190, 60), groundBody: rgb(150, 100, 55),
    platform: rgb(190, 120, 60), platformEdge: rgb(120, 70, 30),
    coin: rgb(255, 215, 0), coinRim: rgb(190, 140, 0), enemy: rgb(140, 60, 160),
    player: rgb(230, 30, 30), playerDetail: rgb(30, 40, 160),
  },
  {
    name: "night",
    skyTop: rgb(8, 10, 35), skyBottom: rgb(35, 40, 90), stars: true,
    farStyle: "buildings", farColor: rgb(30, 30, 55), farAccent: rgb(250, 220, 110),
    midStyle: "houses", midColor: rgb(45, 50, 80),
    groundTop: rgb(90, 100, 130), groundBody: rgb(60, 60, 80),
    platform: rgb(120, 130, 160), platformEdge: rgb(70, 75, 100),
    coin: rgb(255, 225, 40), coinRim: rgb(200, 150, 0), enemy: rgb(80, 220, 120),
    player: rgb(250, 70, 50), playerDetail: rgb(240, 240, 240),
  },
  {
    name: "desert",
    skyTop: rgb(240, 170, 90), skyBottom: rgb(255, 225, 160), stars: false,
    farStyle: "dunes", farColor: rgb(225, 170, 100), farAccent: rgb(240, 195, 125),
    midStyle: "cacti", midColor: rgb(70, 130, 60),
    groundTop: rgb(235, 200, 120), groundBody: rgb(190, 135, 70),
    platform: rgb(170, 100, 60), platformEdge: rgb(110, 60, 30),
    coin: rgb(255, 240, 60), coinRim: rgb(200, 160, 0), enemy: rgb(150, 40, 40),
    player: rgb(30, 70, 220), playerDetail: rgb(255, 255, 255),
  },
  {
    name: "forest",
    skyTop: rgb(140, 200, 170), skyBottom: rgb(210, 235, 200), stars: false,
    farStyle: "pines", farColor: rgb(60, 110, 80), farAccent: rgb(80, 135, 95),
    midStyle: "trees", midColor: rgb(30, 80, 45),
    groundTop: rgb(50, 150, 50), groundBody: rgb(100, 70, 40),
    platform: rgb(130, 85, 45), platformEdge: rgb(80, 50, 25),
    coin: rgb(255, 215, 0), coinRim: rgb(180, 130, 0), enemy: rgb(200, 90, 30),
    player: rgb(235, 30, 60), playerDetail: rgb(255, 240, 80),
  },
  {
    name: "cave",
    skyTop: rgb(25, 18, 15), skyBottom: rgb(60, 45, 40), stars: false,
    farStyle: "stalactites", farColor: rgb(75, 60, 55), farAccent: rgb(95, 80, 70),
    midStyle: "rocks", midColor: rgb(55, 44, 38),
    groundTop: rgb(160, 150, 140), groundBody: rgb(105, 98, 94),
    platform: rgb(150, 140, 130), platformEdge: rgb(95, 85, 80),
    coin: rgb(255, 220, 50), coinRim: rgb(200, 150, 0), enemy: rgb(120, 200, 230),
    player: rgb(255, 60, 40), playerDetail: rgb(255, 230, 60),
  },
  {
    name: "snow",
    skyTop: rgb(160, 190, 225), skyBottom: rgb(225, 235, 250), stars: false,
    farStyle: "mountains", farColor: rgb(130, 150, 185), farAccent: rgb(245, 250, 255),
    midStyle: "trees", midColor: rgb(50, 95, 85),
    groundTop: rgb(250, 252, 255), groundBody: rgb(150, 170, 200),
    platform: rgb(175, 215, 240), platformEdge: rgb(105, 145, 190),
    coin: rgb(255, 200, 0), coinRim: rgb(190, 120, 0), enemy: rgb(60, 60, 70),
    player: rgb(220, 20, 40), playerDetail: rgb(20, 90, 40),
  },
  {
    name: "sunset",
    skyTop: rgb(90, 50, 130), skyBottom: rgb(250, 140, 90), stars: false,
    farStyle: "buildings", farColor: rgb(70, 40, 80), farAccent: rgb(255, 190, 110),
    midStyle: "houses", midColor: rgb(45, 25, 55),
    groundTop: rgb(120, 80, 70), groundBody: rgb(70, 45, 50),
    platform: rgb(200, 120, 90), platformEdge: rgb(120, 60, 50),
    coin: rgb(255, 235, 90), coinRim: rgb(210, 160, 20), enemy: rgb(40, 170, 160),
    player: rgb(90, 230, 255), playerDetail: rgb(255, 255, 255),
  },
];

/** A maze wall material: base colour, mortar/line colour and texture pattern. */
export interface WallMaterial {
  name: string;
  base: number;
  line: number;
  pattern: "bricks" | "stripes" | "blocks" | "planks";
}

/** Ordinary maze walls, one material per region of the maze so areas look different. */
export const MAZE_WALLS: readonly WallMaterial[] = [
  { name: "red brick", base: rgb(150, 60, 45), line: rgb(80, 70, 65), pattern: "bricks" },
  { name: "grey stone", base: rgb(125, 125, 130), line: rgb(70, 70, 78), pattern: "blocks" },
  { name: "blue tile", base: rgb(70, 100, 170), line: rgb(40, 55, 100), pattern: "stripes" },
  { name: "wood", base: rgb(140, 100, 55), line: rgb(85, 55, 30), pattern: "planks" },
];

/** A landmark wall panel: a named, saturated, patterned block that marks one place in the maze. */
export interface Landmark {
  name: string;
  color: number;
  detail: number;
  pattern: "door" | "window" | "banner" | "ring";
}

export const MAZE_LANDMARKS: readonly Landmark[] = [
  { name: "red door", color: rgb(220, 30, 30), detail: rgb(250, 220, 60), pattern: "door" },
  { name: "green door", color: rgb(30, 190, 60), detail: rgb(240, 240, 240), pattern: "door" },
  { name: "yellow window", color: rgb(245, 215, 40), detail: rgb(40, 40, 60), pattern: "window" },
  { name: "cyan window", color: rgb(40, 220, 230), detail: rgb(20, 50, 80), pattern: "window" },
  { name: "magenta banner", color: rgb(220, 40, 200), detail: rgb(255, 230, 250), pattern: "banner" },
  { name: "orange ring", color: rgb(250, 140, 20), detail: rgb(255, 255, 255), pattern: "ring" },
];

/** Ball colours in the bounce world (all distinct and bright against the dark back wall). */
export const BALL_COLORS: readonly { name: string; color: number }[] = [
  { name: "red", color: rgb(235, 50, 50) },
  { name: "yellow", color: rgb(250, 215, 40) },
  { name: "green", color: rgb(60, 210, 80) },
  { name: "blue", color: rgb(70, 130, 250) },
  { name: "magenta", color: rgb(225, 70, 220) },
];

/** Back-wall colour schemes for the bounce arena: name, top and bottom of the gradient, grid lines. */
export const BOUNCE_BACKDROPS: readonly { name: string; top: number; bottom: number; grid: number }[] = [
  { name: "navy", top: rgb(15, 20, 45), bottom: rgb(35, 45, 90), grid: rgb(50, 60, 110) },
  { name: "plum", top: rgb(35, 15, 40), bottom: rgb(70, 35, 80), grid: rgb(90, 55, 100) },
  { name: "teal", top: rgb(10, 35, 35), bottom: rgb(25, 70, 70), grid: rgb(40, 95, 95) },
  { name: "charcoal", top: rgb(20, 20, 22), bottom: rgb(55, 55, 60), grid: rgb(75, 75, 82) },
];
