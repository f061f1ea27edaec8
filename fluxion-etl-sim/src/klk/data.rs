//! Deterministic data: the article catalogue, the day's dollar rate, each store-day's sales and each
//! warehouse's stock.
//!
//! Everything is a pure function of the seed and the key ((branch, date) for sales, (warehouse, date)
//! for stock), drawn from a ChaCha8 stream or a SplitMix64 hash, never from a thread RNG or the clock.
//! A store-day is kept compact ([`DayData`], about 48 bytes per line); the vendor's numbers are derived
//! from it with integer fixed-point arithmetic when a line is encoded, so the JSON the server streams
//! and the [`SimSale`]s tests compare against come from the same computation.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::config::{BranchKind, KlkSimConfig, SimBranch};

/// 100-nanosecond ticks per second: `hora` carries 7 fractional digits (SQL Server `time(7)`).
pub(crate) const TICKS_PER_SECOND: u64 = 10_000_000;
/// Ticks in a day.
pub(crate) const TICKS_PER_DAY: u64 = 86_400 * TICKS_PER_SECOND;
const OPEN_TICKS: u64 = 6 * 3600 * TICKS_PER_SECOND;
/// The last invoice starts by 21:50 so that even a 40-line invoice ends before the 22:00 closing.
const LAST_START_TICKS: u64 = (21 * 3600 + 50 * 60) * TICKS_PER_SECOND;

// ---------------------------------------------------------------------------------------------------
// Hashing

/// SplitMix64 finaliser: a good, stable 64-bit mixer (unlike `DefaultHasher`, fixed across Rust releases).
pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Builds a stable key from a seed and parts.
#[derive(Clone, Copy)]
pub(crate) struct Mix(u64);

impl Mix {
    pub fn new(seed: u64) -> Self {
        Self(splitmix(seed))
    }
    pub fn u(self, x: u64) -> Self {
        Self(splitmix(self.0 ^ x.wrapping_mul(0xA24B_AED4_963E_E407)))
    }
    pub fn s(self, s: &str) -> Self {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        for b in s.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
        self.u(h).u(s.len() as u64)
    }
    pub fn date(self, d: NaiveDate) -> Self {
        self.u(d.num_days_from_ce() as u64)
    }
    pub fn get(self) -> u64 {
        self.0
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(self, n: u64) -> u64 {
        ((u128::from(self.0) * u128::from(n)) >> 64) as u64
    }
}

// ---------------------------------------------------------------------------------------------------
// Fixed-point helpers

/// `n / d` rounded half away from zero (`d > 0`). Every amount the simulator computes fits `i64` with
/// a wide margin: prices are at most a few thousand dollar cents and the rate is clamped (see
/// [`rate_cents`]), so products stay below 10^18.
pub(crate) fn div_round(n: i64, d: i64) -> i64 {
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d {
        if n < 0 {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    }
}

// ---------------------------------------------------------------------------------------------------
// The catalogue

/// How an article is sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaleUnit {
    /// By the piece.
    Unit,
    /// By weight, fractional quantities (`KILO`).
    Kilo,
    /// By the case of `n` pieces (`BULTO`, `factor_unidad_medida` = n).
    Case(u16),
}

struct Family {
    group: &'static str,
    category: &'static str,
    subgroup: &'static str,
    category_name: &'static str,
    stems: &'static [&'static str],
    brands: &'static [&'static str],
    sizes: &'static [&'static str],
    unit: SaleUnit,
    price_cents: (i64, i64),
    tax: i64,
    has_model: bool,
}

/// A row of [`FAMILIES`]; positional on purpose, so the table reads as a table.
#[allow(clippy::too_many_arguments)]
const fn fam(
    group: &'static str,
    category: &'static str,
    subgroup: &'static str,
    category_name: &'static str,
    stems: &'static [&'static str],
    brands: &'static [&'static str],
    sizes: &'static [&'static str],
    unit: SaleUnit,
    price_cents: (i64, i64),
    tax: i64,
) -> Family {
    Family {
        group,
        category,
        subgroup,
        category_name,
        stems,
        brands,
        sizes,
        unit,
        price_cents,
        tax,
        has_model: false,
    }
}

/// Departments (`grupo_articulo`), categories and subgroups of a Venezuelan supermarket. Brands are the
/// ones on its shelves; `categoria_nombre` is KLK's second, coarser classification (the vendor sample
/// files a nectar under `ACCESORIOS`, so it is not expected to agree with the group).
#[rustfmt::skip]
const FAMILIES: &[Family] = &[
    fam("BEBIDAS", "NECTARES Y JUGOS", "NECTAR DE FRUTA", "ACCESORIOS",
        &["NECTAR DE PERA", "NECTAR DE DURAZNO", "NECTAR DE MANZANA", "JUGO DE NARANJA", "NECTAR DE PIÑA", "JUGO DE MANGO"],
        &["NATULAC", "YUKERY", "LA CAMPIÑA", "DEL VALLE"], &["250ML", "1LT", "1.5LT", "200ML"],
        SaleUnit::Unit, (60, 350), 16),
    fam("BEBIDAS", "REFRESCOS", "GASEOSAS", "BEBIDAS",
        &["REFRESCO COLA", "REFRESCO NARANJA", "REFRESCO LIMON", "REFRESCO UVA", "REFRESCO KOLITA"],
        &["COCA-COLA", "PEPSI", "GOLDEN", "FRESCOLITA", "HIT"], &["355ML", "1LT", "1.5LT", "2LT"],
        SaleUnit::Unit, (50, 300), 16),
    fam("BEBIDAS", "AGUAS", "AGUA MINERAL", "BEBIDAS",
        &["AGUA MINERAL", "AGUA SABORIZADA", "AGUA CON GAS"],
        &["MINALBA", "NEVADA", "CRISTAL"], &["600ML", "1.5LT", "5LT"],
        SaleUnit::Unit, (30, 250), 16),
    fam("BEBIDAS", "AGUAS", "AGUA MINERAL", "BEBIDAS",
        &["PACK AGUA MINERAL"], &["MINALBA", "NEVADA"], &["6X600ML", "6X1.5LT"],
        SaleUnit::Case(6), (150, 700), 16),
    fam("VIVERES", "ARROZ", "ARROZ BLANCO", "ALIMENTOS",
        &["ARROZ BLANCO TIPO I", "ARROZ PARBOILIZADO", "ARROZ INTEGRAL"],
        &["MARY", "PRIMOR", "GAVILLA"], &["1KG", "900GR"],
        SaleUnit::Unit, (80, 180), 0),
    fam("VIVERES", "HARINAS", "HARINA DE MAIZ", "ALIMENTOS",
        &["HARINA DE MAIZ BLANCO", "HARINA DE MAIZ AMARILLO", "HARINA DE TRIGO"],
        &["P.A.N.", "JUANA", "ROBIN HOOD", "DOÑA EMILIA"], &["1KG"],
        SaleUnit::Unit, (90, 170), 0),
    fam("VIVERES", "PASTAS", "PASTA LARGA", "ALIMENTOS",
        &["PASTA LARGA SPAGHETTI", "PASTA CORTA PLUMA", "PASTA CODITO", "PASTA TORNILLO"],
        &["PRIMOR", "SINDONI", "CAPRI", "RONCO"], &["500GR", "1KG"],
        SaleUnit::Unit, (70, 220), 0),
    fam("VIVERES", "ACEITES", "ACEITE VEGETAL", "ALIMENTOS",
        &["ACEITE DE SOYA", "ACEITE DE GIRASOL", "ACEITE MIXTO"],
        &["VATEL", "DIANA", "MAZEITE"], &["500ML", "1LT"],
        SaleUnit::Unit, (150, 450), 16),
    fam("VIVERES", "AZUCAR", "AZUCAR", "ALIMENTOS",
        &["AZUCAR REFINADA", "AZUCAR MORENA"], &["MONTALBAN", "LA PASTORA"], &["1KG"],
        SaleUnit::Unit, (100, 180), 0),
    fam("VIVERES", "CAFE", "CAFE MOLIDO", "ALIMENTOS",
        &["CAFE MOLIDO", "CAFE EN GRANO", "CAFE INSTANTANEO"],
        &["FAMA DE AMERICA", "FLOR DE ARAUCA", "MADRID", "NESCAFE"], &["250GR", "500GR", "100GR"],
        SaleUnit::Unit, (200, 900), 16),
    fam("VIVERES", "ENLATADOS", "ATUN Y SARDINAS", "ALIMENTOS",
        &["ATUN EN ACEITE", "ATUN EN AGUA", "SARDINAS EN SALSA DE TOMATE"],
        &["MARGARITA", "EVEREST", "PAMPERO"], &["140GR", "170GR"],
        SaleUnit::Unit, (80, 300), 16),
    fam("VIVERES", "GRANOS", "CARAOTAS Y LEGUMBRES", "ALIMENTOS",
        &["CARAOTAS NEGRAS", "LENTEJAS", "ARVEJAS", "FRIJOLES"],
        &["MARY", "PANTERA", "EL TUNAL"], &["500GR", "1KG"],
        SaleUnit::Unit, (90, 250), 0),
    fam("VIVERES", "SALSAS", "SALSAS Y ADEREZOS", "ALIMENTOS",
        &["SALSA DE TOMATE", "MAYONESA", "MOSTAZA", "SALSA INGLESA"],
        &["HEINZ", "PAMPERO", "MAVESA", "KRAFT"], &["200GR", "397GR", "445GR", "910GR"],
        SaleUnit::Unit, (100, 500), 16),
    fam("CHARCUTERIA", "QUESOS", "QUESO AMARILLO", "PERECEDEROS",
        &["QUESO AMARILLO", "QUESO BLANCO DURO", "QUESO PAISA", "QUESO MOZZARELLA", "QUESO GUAYANES"],
        &["KEMMENTAL", "LOS ANDES", "SAN JOSE", "LA CAMPIÑA"], &[],
        SaleUnit::Kilo, (500, 1500), 0),
    fam("CHARCUTERIA", "EMBUTIDOS", "JAMONES", "PERECEDEROS",
        &["JAMON DE PIERNA", "JAMON ESPALDA", "MORTADELA", "SALCHICHON", "PECHUGA DE PAVO"],
        &["PLUMROSE", "FRICA", "ALPINO", "LA MONTSERRATINA"], &[],
        SaleUnit::Kilo, (400, 1800), 16),
    fam("CARNICERIA", "RES", "CORTES DE RES", "PERECEDEROS",
        &["CARNE MOLIDA DE RES", "BISTEC DE RES", "COSTILLA DE RES", "SOLOMO DE CUERITO", "MUCHACHO REDONDO",
          "LAGARTO DE RES", "PUNTA TRASERA"],
        &[], &[], SaleUnit::Kilo, (500, 1400), 0),
    fam("CARNICERIA", "CERDO", "CORTES DE CERDO", "PERECEDEROS",
        &["CHULETA DE CERDO", "PERNIL DE CERDO", "COSTILLA DE CERDO", "TOCINETA"],
        &[], &[], SaleUnit::Kilo, (450, 1200), 0),
    fam("CARNICERIA", "AVES", "POLLO", "PERECEDEROS",
        &["POLLO ENTERO", "PECHUGA DE POLLO", "MUSLO DE POLLO", "ALAS DE POLLO"],
        &[], &[], SaleUnit::Kilo, (250, 700), 0),
    fam("FRUVER", "FRUTAS", "FRUTAS", "PERECEDEROS",
        &["CAMBUR", "MANZANA ROJA", "PERA", "NARANJA", "LECHOSA", "PIÑA", "PATILLA", "MANGO", "LIMON", "AGUACATE", "UVA"],
        &[], &[], SaleUnit::Kilo, (80, 600), 0),
    fam("FRUVER", "VERDURAS", "HORTALIZAS", "PERECEDEROS",
        &["TOMATE", "CEBOLLA", "PAPA", "ZANAHORIA", "PIMENTON", "AJI DULCE", "CILANTRO", "AJO", "PLATANO", "YUCA",
          "AUYAMA", "CALABACIN"],
        &[], &[], SaleUnit::Kilo, (60, 500), 0),
    fam("PANADERIA", "PAN", "PAN SALADO", "PERECEDEROS",
        &["PAN CANILLA", "PAN CAMPESINO", "PAN DE SANDWICH", "PAN DULCE", "CACHITO DE JAMON"],
        &["LA GRANJA", "BIMBO", "HOLSUM"], &["UND", "500GR", "600GR"],
        SaleUnit::Unit, (50, 400), 0),
    fam("LACTEOS", "LECHE", "LECHE", "ALIMENTOS",
        &["LECHE COMPLETA UHT", "LECHE DESCREMADA UHT", "LECHE EN POLVO COMPLETA"],
        &["LA LECHE", "NATULAC", "LOS ANDES", "PURISIMA"], &["1LT", "400GR", "900GR"],
        SaleUnit::Unit, (150, 900), 0),
    fam("LACTEOS", "YOGURT", "YOGURT", "PERECEDEROS",
        &["YOGURT FRESA", "YOGURT MELOCOTON", "YOGURT NATURAL", "YOGURT GRIEGO"],
        &["MIGURT", "LOS ANDES", "PARMALAT"], &["150GR", "1LT"],
        SaleUnit::Unit, (80, 500), 16),
    fam("LACTEOS", "MANTEQUILLA", "MARGARINA", "ALIMENTOS",
        &["MARGARINA", "MANTEQUILLA", "NATA"], &["MAVESA", "NELLY", "LOS ANDES"], &["250GR", "500GR"],
        SaleUnit::Unit, (150, 600), 16),
    fam("LIMPIEZA", "DETERGENTES", "DETERGENTES", "NO ALIMENTOS",
        &["DETERGENTE EN POLVO", "DETERGENTE LIQUIDO", "SUAVIZANTE"],
        &["ACE", "ARIEL", "LAS LLAVES", "DOWNY"], &["500GR", "1KG", "2KG", "1LT"],
        SaleUnit::Unit, (150, 1500), 16),
    fam("LIMPIEZA", "DESINFECTANTES", "DESINFECTANTES", "NO ALIMENTOS",
        &["CLORO", "DESINFECTANTE LAVANDA", "LIMPIADOR MULTIUSO", "LAVAPLATOS EN CREMA"],
        &["NEVEX", "MISTOLIN", "AXION", "LAS LLAVES"], &["1LT", "2LT", "500GR"],
        SaleUnit::Unit, (80, 600), 16),
    fam("CUIDADO PERSONAL", "CABELLO", "CHAMPU", "NO ALIMENTOS",
        &["CHAMPU", "ACONDICIONADOR", "CREMA PARA PEINAR"],
        &["HEAD & SHOULDERS", "SEDAL", "PANTENE"], &["200ML", "400ML"],
        SaleUnit::Unit, (250, 1200), 16),
    fam("CUIDADO PERSONAL", "HIGIENE", "HIGIENE PERSONAL", "NO ALIMENTOS",
        &["JABON DE TOCADOR", "CREMA DENTAL", "DESODORANTE", "PAPEL HIGIENICO 4 ROLLOS"],
        &["PROTEX", "COLGATE", "REXONA", "ROSAL"], &["90GR", "100ML", "150ML", "UND"],
        SaleUnit::Unit, (80, 800), 16),
    fam("CONFITERIA", "GALLETAS", "GALLETAS", "ALIMENTOS",
        &["GALLETAS MARIA", "GALLETAS DE SODA", "GALLETAS RELLENAS"],
        &["PUIG", "CLUB SOCIAL", "OREO", "SAMBA"], &["200GR", "8 UND", "432GR"],
        SaleUnit::Unit, (60, 400), 16),
    fam("CONFITERIA", "CHOCOLATES", "CHOCOLATES Y CARAMELOS", "ALIMENTOS",
        &["CHOCOLATE CON LECHE", "CHOCOLATE OSCURO 70%", "BOMBONES", "CARAMELOS SURTIDOS"],
        &["SAVOY", "EL REY", "CRI-CRI", "TORONTO"], &["30GR", "100GR", "250GR"],
        SaleUnit::Unit, (50, 600), 16),
    Family {
        has_model: true,
        ..fam("HOGAR", "FERRETERIA", "ELECTRICIDAD Y PLOMERIA", "ACCESORIOS",
            &["TUBO PVC 1/2\"", "MANGUERA 3/4\"", "BOMBILLO LED 9W", "EXTENSION ELECTRICA 3M", "LINTERNA RECARGABLE"],
            &["PAVCO", "SYLVANIA", "TRUPER", "GENERICO"], &["UND"],
            SaleUnit::Unit, (150, 2500), 16)
    },
    fam("MASCOTAS", "ALIMENTO MASCOTAS", "PERROS Y GATOS", "NO ALIMENTOS",
        &["ALIMENTO PARA PERROS ADULTO", "ALIMENTO PARA GATOS", "GALLETAS PARA PERROS"],
        &["DOG CHOW", "CAT CHOW", "PEDIGREE", "SUPERCAN"], &["1KG", "4KG", "500GR"],
        SaleUnit::Unit, (200, 2500), 16),
    fam("LICORES", "CERVEZAS Y LICORES", "CERVEZAS", "BEBIDAS",
        &["CERVEZA", "CERVEZA LIGHT", "RON AÑEJO", "VINO TINTO"],
        &["POLAR", "REGIONAL", "SANTA TERESA", "CACIQUE"], &["355ML", "222ML", "750ML", "1LT"],
        SaleUnit::Unit, (80, 2500), 16),
    fam("LICORES", "CERVEZAS Y LICORES", "CERVEZAS", "BEBIDAS",
        &["CAJA CERVEZA"], &["POLAR", "REGIONAL"], &["36X222ML", "24X355ML"],
        SaleUnit::Case(36), (1800, 3200), 16),
];

const VARIANTS: &[&str] = &[
    "",
    "",
    "",
    "",
    "",
    " LIGHT",
    " ZERO",
    " PREMIUM",
    " ECONOMICO",
    " X2",
    " FAMILIAR",
    " CLASICO",
    " INTEGRAL",
    " TRADICIONAL",
    " PROMO",
];

/// One catalogue article. Texts are as KLK's sales lines carry them; the inventory writes `"N/A"` where
/// a text is missing.
#[derive(Debug, Clone)]
pub(crate) struct Article {
    pub code: String,
    pub description: String,
    pub brand: Option<&'static str>,
    pub model: String,
    pub group: &'static str,
    pub category: &'static str,
    pub subgroup: &'static str,
    pub category_name: &'static str,
    pub category_id: String,
    pub subcategory_id: String,
    /// `""` when the article has none.
    pub barcode: String,
    pub quadrant: Option<String>,
    pub unit: SaleUnit,
    /// Milli-units (grams per piece, or 1000 for goods sold by the kilo); 0 when unknown.
    pub unit_weight: i64,
    pub gross_weight: i64,
    /// Millilitres per piece; 0 when unknown.
    pub volume: i64,
    pub price_usd_cents: i64,
    pub cost_usd_cents: i64,
    /// Per-mille of the day's rate at which the cost was booked in bolívars (costs are booked at the
    /// purchase-day rate, a bit older than the sales rate).
    pub cost_rate_permille: i64,
    pub tax: i64,
    /// The inventory shows a `null` price for this article.
    pub price_null: bool,
    /// The inventory shows `"N/A"` for the category name.
    pub category_missing: bool,
    /// Pre-encoded `"producto":[{...}]` fragment of sales lines.
    pub product_json: Box<[u8]>,
}

/// The articles every warehouse of the chain draws from.
#[derive(Debug)]
pub(crate) struct Catalog {
    pub articles: Vec<Article>,
    /// Cumulative popularity weights for picking an article in a sale.
    cumulative: Vec<u64>,
}

fn size_measure(size: &str) -> (i64, i64) {
    // (grams, millilitres) parsed from sizes like "1KG", "900GR", "1.5LT", "355ML".
    let parse = |num: &str, factor: f64| -> i64 {
        num.parse::<f64>()
            .map(|v| (v * factor).round() as i64)
            .unwrap_or(0)
    };
    if size.contains('X') {
        return (0, 0);
    }
    if let Some(n) = size.strip_suffix("KG") {
        (parse(n, 1000.0), 0)
    } else if let Some(n) = size.strip_suffix("GR") {
        (parse(n, 1.0), 0)
    } else if let Some(n) = size.strip_suffix("LT") {
        (0, parse(n, 1000.0))
    } else if let Some(n) = size.strip_suffix("ML") {
        (0, parse(n, 1.0))
    } else {
        (0, 0)
    }
}

fn ean13(body12: u64) -> String {
    let digits = format!("{body12:012}");
    let sum: u32 = digits
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

impl Catalog {
    /// The catalogue of `count` articles for `seed`.
    pub fn new(seed: u64, count: u32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(Mix::new(seed).s("catalogo").get());
        let mut articles = Vec::with_capacity(count as usize);
        let mut code_number: u32 = 0;
        let mut plu: u32 = 0;
        for _ in 0..count {
            // Codes have gaps, like a catalogue with discontinued articles; six digits, leading zeros.
            code_number += if rng.gen_bool(0.7) { 1 } else { 2 };
            let family_index = rng.gen_range(0..FAMILIES.len());
            let family = &FAMILIES[family_index];
            let stem = family.stems[rng.gen_range(0..family.stems.len())];
            let brand = if family.brands.is_empty() {
                None
            } else {
                Some(family.brands[rng.gen_range(0..family.brands.len())])
            };
            let size = if family.sizes.is_empty() {
                "KG"
            } else {
                family.sizes[rng.gen_range(0..family.sizes.len())]
            };
            let variant = if family.unit == SaleUnit::Kilo {
                ""
            } else {
                VARIANTS[rng.gen_range(0..VARIANTS.len())]
            };
            let description = match brand {
                Some(brand) => format!("{stem}{variant} {brand} {size}"),
                None => format!("{stem}{variant} {size}"),
            };
            let (grams, millilitres) = size_measure(size);
            let (unit_weight, gross_weight) = match family.unit {
                SaleUnit::Kilo => (1000, 0),
                _ if grams > 0 => (grams, grams + grams / 50),
                _ => (0, 0),
            };
            let barcode = match family.unit {
                SaleUnit::Kilo => {
                    plu += 10;
                    format!("{plu:05}")
                }
                _ if rng.gen_bool(0.04) => String::new(),
                _ => ean13(759_000_000_000 + rng.gen_range(0..1_000_000_000)),
            };
            let quadrant = rng.gen_bool(0.4).then(|| {
                format!(
                    "{}{}-{:02}",
                    char::from(b'A' + rng.gen_range(0..8u8)),
                    rng.gen_range(1..=2),
                    rng.gen_range(1..=24)
                )
            });
            let model = if family.has_model {
                format!("M-{}", rng.gen_range(100..1000))
            } else {
                String::new()
            };
            let price = rng.gen_range(family.price_cents.0..=family.price_cents.1);
            // Most articles carry a 8–38 % margin; a few are sold below cost (negative profits).
            let cost_permille = if rng.gen_bool(0.03) {
                rng.gen_range(1020..1150)
            } else {
                rng.gen_range(620..920)
            };
            let cost = (price * cost_permille / 1000).max(1);
            let mut article = Article {
                code: format!("{code_number:06}"),
                description,
                brand,
                model,
                group: family.group,
                category: family.category,
                subgroup: family.subgroup,
                category_name: family.category_name,
                category_id: format!(
                    "{:02}",
                    1 + FAMILIES
                        .iter()
                        .position(|f| f.group == family.group)
                        .unwrap_or(98)
                ),
                subcategory_id: format!("{:02}", 1 + family_index),
                barcode,
                quadrant,
                unit: family.unit,
                unit_weight,
                gross_weight,
                volume: millilitres,
                price_usd_cents: price,
                cost_usd_cents: cost,
                cost_rate_permille: rng.gen_range(940..=1000),
                tax: family.tax,
                price_null: rng.gen_bool(0.0025),
                category_missing: rng.gen_bool(0.05),
                product_json: Box::new([]),
            };
            article.product_json = super::json::product_fragment(&article).into_boxed_slice();
            articles.push(article);
        }
        // Popularity: a few articles sell a lot, most sell little (weights ~ 1/rank^0.8 in a shuffled order).
        let mut cumulative = Vec::with_capacity(articles.len());
        let mut total = 0u64;
        for (i, _) in articles.iter().enumerate() {
            let rank = Mix::new(seed)
                .s("popularidad")
                .u(i as u64)
                .below(articles.len() as u64)
                + 1;
            total += (1_000_000.0 / (rank as f64).powf(0.8)) as u64 + 1;
            cumulative.push(total);
        }
        Self {
            articles,
            cumulative,
        }
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> u32 {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let x = rng.gen_range(0..total);
        self.cumulative.partition_point(|&c| c <= x) as u32
    }
}

// ---------------------------------------------------------------------------------------------------
// The day's rate

/// The bolívar/dollar rate of a day, in cents of bolívar (`tasa_usd` × 100). The same for every branch:
/// 236.46 on 2025-11-17, drifting up about 0.25 % a day with a little daily noise. Integer arithmetic,
/// so it is the same on every platform.
pub(crate) fn rate_cents(seed: u64, date: NaiveDate) -> i64 {
    let anchor = NaiveDate::from_ymd_opt(2025, 11, 17).map_or(0, |d| d.num_days_from_ce());
    let days = i64::from(date.num_days_from_ce() - anchor).clamp(-1500, 1500);
    let factor: i128 = if days >= 0 { 1_002_500 } else { 997_506 };
    let mut value: i128 = 236_460_000; // micro-bolívars
    let mut base = factor;
    let mut e = days.unsigned_abs();
    // Exponentiation by squaring in 6-decimal fixed point.
    while e > 0 {
        if e & 1 == 1 {
            value = value * base / 1_000_000;
        }
        base = base * base / 1_000_000;
        e >>= 1;
    }
    let noise = Mix::new(seed).s("tasa").date(date).below(4001) as i128 - 2000; // ±0.2 %
    let value = value + value * noise / 1_000_000;
    // Positive, so rounding half up is rounding half away from zero.
    (((value + 5_000) / 10_000) as i64).max(1)
}

// ---------------------------------------------------------------------------------------------------
// Sales

/// One generated sales line, compact. The vendor's numbers are derived by [`line_numbers`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineRec {
    /// Time of day in 100 ns ticks.
    pub ticks: u64,
    /// Invoice total in bolívar cents (sum over the invoice's lines of total + tax).
    pub invoice_total: i64,
    /// Quantity in thousandths (negative for returns).
    pub qty: i32,
    /// Invoice sequence number (8 digits).
    pub seq: u32,
    pub article: u32,
    pub linea: u16,
    pub promo: u16,
    /// Till number (two digits).
    pub till: u8,
    /// `b'C'` sale, `b'D'` return.
    pub kind: u8,
    /// 0: the sales floor; i: `other_warehouses[i - 1]`.
    pub warehouse: u8,
    pub discount_pct: u8,
    pub loyalty_pct: u8,
    pub payment_pct: u8,
    /// 0 when every numeric is present; else 1 + the index (in [`NUMERIC_FIELDS`]) of the null one.
    pub null_field: u8,
    pub non_fiscal: bool,
}

/// A generated store-day.
#[derive(Debug)]
pub(crate) struct DayData {
    pub date: NaiveDate,
    /// `tasa_usd` × 100.
    pub rate: i64,
    /// Each article's prices on this day (empty when nothing was sold).
    pub prices: Vec<DayPrice>,
    pub lines: Vec<LineRec>,
}

impl DayData {
    /// The numbers of one of this day's lines.
    pub fn numbers(&self, rec: &LineRec, catalog: &Catalog) -> [i64; 27] {
        let i = rec.article as usize;
        line_numbers(rec, &catalog.articles[i], &self.prices[i], self.rate)
    }
}

/// Numeric fields of a sales line in the order they are written, with their fixed-point scale.
pub(crate) const NUMERIC_FIELDS: [(&str, u32); 27] = [
    ("cantidad_vendida", 3),
    ("peso_unitario", 3),
    ("peso_bruto", 3),
    ("volumen_unitario", 3),
    ("factor_unidad_medida", 0),
    ("total_cantidad_por_unidad_medida", 3),
    ("peso_calculado", 3),
    ("costo_unitario_bs", 2),
    ("costo_unitario_usd", 2),
    ("precio_unitario_bs", 2),
    ("precio_unitario_usd", 6),
    ("impuesto_porcentaje", 0),
    ("impuesto_monto", 4),
    ("porcentaje_descuento", 0),
    ("monto_descuento", 2),
    ("porcentaje_descuento_fidelizacion", 0),
    ("monto_descuento_fidelizacion", 2),
    ("porcentaje_descuento_forma_pago", 0),
    ("monto_descuento_forma_pago", 2),
    ("venta_total_bs", 2),
    ("venta_total_usd", 6),
    ("costo_total_bs", 2),
    ("costo_total_usd", 6),
    ("utilidad_bruta_bs", 2),
    ("utilidad_bruta_usd", 2),
    ("total_factura", 2),
    ("tasa_usd", 2),
];

/// What an article costs on a day: `[precio_unitario_bs, precio_unitario_usd, costo_unitario_bs]`
/// mantissas. Computed once per store-day rather than once per line.
pub(crate) type DayPrice = [i64; 3];

/// The day's prices of every article at `rate`. Prices in bolívars follow the dollar list price at the
/// day's rate; the dollar price shown is the bolívar one divided back by the rate (6 decimals, as KLK
/// shows); costs are booked in bolívars at an older rate.
pub(crate) fn day_prices(catalog: &Catalog, rate: i64) -> Vec<DayPrice> {
    catalog
        .articles
        .iter()
        .map(|a| {
            let price_bs = div_round(a.price_usd_cents * rate, 100);
            let price_usd = div_round(price_bs * 1_000_000, rate);
            let cost_bs = div_round(a.cost_usd_cents * rate * a.cost_rate_permille, 100_000);
            [price_bs, price_usd, cost_bs]
        })
        .collect()
}

/// The mantissas of [`NUMERIC_FIELDS`] for one line.
pub(crate) fn line_numbers(
    rec: &LineRec,
    article: &Article,
    price: &DayPrice,
    rate: i64,
) -> [i64; 27] {
    let qty = i64::from(rec.qty);
    let factor = match article.unit {
        SaleUnit::Case(n) => i64::from(n),
        _ => 1,
    };
    let [price_bs, price_usd, cost_bs] = *price;
    let gross = div_round(price_bs * qty, 1000);
    let discount = div_round(gross * i64::from(rec.discount_pct), 100);
    let loyalty = div_round((gross - discount) * i64::from(rec.loyalty_pct), 100);
    let payment = div_round(
        (gross - discount - loyalty) * i64::from(rec.payment_pct),
        100,
    );
    let total_bs = gross - discount - loyalty - payment;
    let tax_amount = total_bs * article.tax; // cents × % = scale 4
    let total_usd = div_round(total_bs * 1_000_000, rate);
    let cost_usd = article.cost_usd_cents;
    let cost_total_bs = div_round(cost_bs * qty, 1000);
    let cost_total_usd = cost_usd * qty * 10; // scale 2 × scale 3 → scale 6
    let profit_bs = total_bs - cost_total_bs;
    let profit_usd = div_round(total_usd - cost_total_usd, 10_000);
    let weight = div_round(qty * article.unit_weight, 1000);
    [
        qty,
        article.unit_weight,
        article.gross_weight,
        article.volume,
        factor,
        qty * factor,
        weight,
        cost_bs,
        cost_usd,
        price_bs,
        price_usd,
        article.tax,
        tax_amount,
        i64::from(rec.discount_pct),
        discount,
        i64::from(rec.loyalty_pct),
        loyalty,
        i64::from(rec.payment_pct),
        payment,
        total_bs,
        total_usd,
        cost_total_bs,
        cost_total_usd,
        profit_bs,
        profit_usd,
        rec.invoice_total,
        rate,
    ]
}

fn pick_start(rng: &mut ChaCha8Rng) -> u64 {
    // Relative traffic per opening hour, 06:00 to 21:00: a midday and an after-work peak.
    const HOURLY: [u32; 16] = [2, 4, 6, 7, 8, 9, 10, 9, 7, 6, 7, 9, 10, 9, 7, 4];
    let total: u32 = HOURLY.iter().sum();
    let mut x = rng.gen_range(0..total);
    let mut hour = 0;
    for (i, w) in HOURLY.iter().enumerate() {
        if x < *w {
            hour = i as u64;
            break;
        }
        x -= w;
    }
    let start = OPEN_TICKS + hour * 3600 * TICKS_PER_SECOND;
    let end = (start + 3600 * TICKS_PER_SECOND).min(LAST_START_TICKS);
    rng.gen_range(start..end)
}

/// Generates the sales of `branch` on `date`: empty for closed days, unknown branches and branches that
/// do not sell. Lines are ordered by invoice start time; lines of an invoice are consecutive, numbered
/// from 1, a few seconds apart.
pub(crate) fn generate_day(
    config: &KlkSimConfig,
    catalog: &Catalog,
    branch: &str,
    date: NaiveDate,
) -> DayData {
    let rate = rate_cents(config.seed, date);
    let empty = DayData {
        date,
        rate,
        prices: Vec::new(),
        lines: Vec::new(),
    };
    let Some(b) = config.branch(branch) else {
        return empty;
    };
    if config.is_closed(branch, date) || b.kind != BranchKind::Store || catalog.articles.is_empty()
    {
        return empty;
    }
    let prices = day_prices(catalog, rate);
    let mut rng =
        ChaCha8Rng::seed_from_u64(Mix::new(config.seed).s("ventas").s(branch).date(date).get());
    let (lo, hi) = config.lines_per_day;
    let n = rng.gen_range(lo..=hi) as usize;

    // Invoice sizes until the day's line count is reached: mostly small baskets, up to 40 lines.
    let mut sizes = Vec::with_capacity(n / 3 + 1);
    let mut remaining = n;
    while remaining > 0 {
        let mut size = 1usize;
        while size < 40 && rng.gen_bool(0.78) {
            size += 1;
        }
        let size = size.min(remaining);
        sizes.push(size as u8);
        remaining -= size;
    }
    let mut starts: Vec<u64> = (0..sizes.len()).map(|_| pick_start(&mut rng)).collect();
    starts.sort_unstable();

    // Invoice numbers: per till, consecutive through the day, from a base that grows with the date, so
    // a number never repeats within a store (for 27 years) but the same number exists in every store.
    let day_index = i64::from(date.num_days_from_ce())
        - i64::from(NaiveDate::from_ymd_opt(2020, 1, 1).map_or(0, |d| d.num_days_from_ce()));
    let seq_base = day_index.rem_euclid(10_000) as u32 * 10_000;
    let tills = sizes.len().div_ceil(800).clamp(4, 99);
    let mut till_count = vec![0u32; tills];
    let has_returns = !b.other_warehouses.is_empty();

    let mut lines = Vec::with_capacity(n);
    let mut invoice = Vec::with_capacity(40);
    let mut returns_seq = 0u32;
    for (size, start) in sizes.into_iter().zip(starts) {
        let mut till = rng.gen_range(0..tills);
        while till_count[till] >= 9_999 {
            till = (till + 1) % tills;
        }
        let is_return = has_returns && rng.gen_bool(0.003);
        let (kind, seq, warehouse) = if is_return {
            returns_seq += 1;
            (b'D', seq_base + returns_seq, 1u8)
        } else {
            till_count[till] += 1;
            (b'C', seq_base + till_count[till], 0u8)
        };
        let non_fiscal = rng.gen_bool(0.01);
        let loyalty = if rng.gen_bool(0.04) { 3 } else { 0 };
        let payment = if rng.gen_bool(0.05) { 5 } else { 0 };
        let mut ticks = start;
        invoice.clear();
        for linea in 1..=u16::from(size) {
            ticks += rng.gen_range(TICKS_PER_SECOND / 2..8 * TICKS_PER_SECOND);
            let article = catalog.pick(&mut rng);
            let art = &catalog.articles[article as usize];
            let qty: i32 = match art.unit {
                SaleUnit::Kilo => rng.gen_range(80..=2_500),
                SaleUnit::Case(_) => 1_000,
                SaleUnit::Unit => match rng.gen_range(0..100) {
                    0..=74 => 1_000,
                    75..=89 => 2_000,
                    _ => rng.gen_range(3..=6) * 1_000,
                },
            };
            let promo = rng.gen_bool(0.03);
            let discount_pct = if promo {
                [5, 10, 15, 20, 30][rng.gen_range(0..5)]
            } else {
                0
            };
            let null_field = if config.null_ratio > 0.0 && rng.gen_bool(config.null_ratio) {
                1 + rng.gen_range(0..NUMERIC_FIELDS.len()) as u8
            } else {
                0
            };
            invoice.push(LineRec {
                ticks: ticks.min(TICKS_PER_DAY - 1),
                invoice_total: 0,
                qty: if is_return { -qty } else { qty },
                seq,
                article,
                linea,
                promo: if promo { rng.gen_range(1..=60) } else { 0 },
                till: (till + 1) as u8,
                kind,
                warehouse,
                discount_pct,
                loyalty_pct: loyalty,
                payment_pct: payment,
                null_field,
                non_fiscal,
            });
        }
        let total: i64 = invoice
            .iter()
            .map(|rec| {
                let i = rec.article as usize;
                let n = line_numbers(rec, &catalog.articles[i], &prices[i], rate);
                n[19] + div_round(n[12], 100)
            })
            .sum();
        for rec in &mut invoice {
            rec.invoice_total = total;
        }
        lines.extend_from_slice(&invoice);
    }
    debug_assert_eq!(lines.len(), n);
    DayData {
        date,
        rate,
        prices,
        lines,
    }
}

// ---------------------------------------------------------------------------------------------------
// The public views tests compare against

/// One sales line exactly as the simulator serves it: the vendor's field names, the vendor's values.
///
/// Numbers are [`Decimal`]s equal to what the JSON carries (`None` where it carries `null`); texts are
/// verbatim (`""` where KLK sends an empty string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSale {
    /// Invoice number, e.g. `C10-01-00008064` (`D…` for returns). Unique per store, not across stores.
    pub numero_factura: String,
    /// Business date.
    pub fecha: NaiveDate,
    /// Time of day with 100 ns precision (`hora`, 7 fractional digits on the wire).
    pub hora: NaiveTime,
    /// `fecha_hora_completa`: date and time truncated to the second.
    pub fecha_hora_completa: NaiveDateTime,
    /// Line number within the invoice, from 1.
    pub linea: u32,
    /// `producto[0].codigo_producto`, six digits with leading zeros.
    pub codigo_producto: String,
    /// `producto[0].descripcion_producto`.
    pub descripcion_producto: String,
    /// `producto[0].marca_producto` (`null` for unbranded fresh goods).
    pub marca_producto: Option<String>,
    /// `producto[0].modelo_producto`.
    pub modelo_producto: String,
    /// `producto[0].categoria_producto`.
    pub categoria_producto: String,
    /// `producto[0].grupo_articulo` (department).
    pub grupo_articulo: String,
    /// `producto[0].subgrupo_producto`.
    pub subgrupo_producto: String,
    /// `producto[0].categoria_nombre`.
    pub categoria_nombre: String,
    /// `producto[0].codigo_barras` (`""` when none).
    pub codigo_barras: String,
    /// `producto[0].serial`.
    pub serial: String,
    /// `producto[0].imei`.
    pub imei: String,
    /// `producto[0].cuadrante_producto`, present for some articles only.
    pub cuadrante_producto: Option<String>,
    /// `cantidad[0].codigo_almacen`.
    pub codigo_almacen: String,
    /// `cantidad[0].nombre_almacen`.
    pub nombre_almacen: String,
    /// `cantidad[0].cantidad_vendida` (fractional for goods sold by weight, negative for returns).
    pub cantidad_vendida: Option<Decimal>,
    /// `cantidad[0].peso_unitario`.
    pub peso_unitario: Option<Decimal>,
    /// `cantidad[0].peso_bruto`.
    pub peso_bruto: Option<Decimal>,
    /// `cantidad[0].volumen_unitario`.
    pub volumen_unitario: Option<Decimal>,
    /// `cantidad[0].unidad_medida_venta`: `UNIDAD`, `KILO` or `BULTO`.
    pub unidad_medida_venta: String,
    /// `cantidad[0].factor_unidad_medida`.
    pub factor_unidad_medida: Option<Decimal>,
    /// `cantidad[0].total_cantidad_por_unidad_medida`.
    pub total_cantidad_por_unidad_medida: Option<Decimal>,
    /// `cantidad[0].peso_calculado`.
    pub peso_calculado: Option<Decimal>,
    /// `financiero[0].costo_unitario_bs`.
    pub costo_unitario_bs: Option<Decimal>,
    /// `financiero[0].costo_unitario_usd`.
    pub costo_unitario_usd: Option<Decimal>,
    /// `financiero[0].precio_unitario_bs`.
    pub precio_unitario_bs: Option<Decimal>,
    /// `financiero[0].precio_unitario_usd`.
    pub precio_unitario_usd: Option<Decimal>,
    /// `financiero[0].impuesto_porcentaje`.
    pub impuesto_porcentaje: Option<Decimal>,
    /// `financiero[0].impuesto_monto`.
    pub impuesto_monto: Option<Decimal>,
    /// `financiero[0].porcentaje_descuento`.
    pub porcentaje_descuento: Option<Decimal>,
    /// `financiero[0].monto_descuento`.
    pub monto_descuento: Option<Decimal>,
    /// `financiero[0].porcentaje_descuento_fidelizacion`.
    pub porcentaje_descuento_fidelizacion: Option<Decimal>,
    /// `financiero[0].monto_descuento_fidelizacion`.
    pub monto_descuento_fidelizacion: Option<Decimal>,
    /// `financiero[0].porcentaje_descuento_forma_pago`.
    pub porcentaje_descuento_forma_pago: Option<Decimal>,
    /// `financiero[0].monto_descuento_forma_pago`.
    pub monto_descuento_forma_pago: Option<Decimal>,
    /// `financiero[0].venta_total_bs`.
    pub venta_total_bs: Option<Decimal>,
    /// `financiero[0].venta_total_usd`.
    pub venta_total_usd: Option<Decimal>,
    /// `financiero[0].costo_total_bs`.
    pub costo_total_bs: Option<Decimal>,
    /// `financiero[0].costo_total_usd`.
    pub costo_total_usd: Option<Decimal>,
    /// `financiero[0].utilidad_bruta_bs` (may be negative).
    pub utilidad_bruta_bs: Option<Decimal>,
    /// `financiero[0].utilidad_bruta_usd` (may be negative).
    pub utilidad_bruta_usd: Option<Decimal>,
    /// `total_factura`: the invoice's total in bolívars, tax included, repeated on each of its lines.
    pub total_factura: Option<Decimal>,
    /// `tasa_usd`: the day's bolívars per dollar.
    pub tasa_usd: Option<Decimal>,
    /// `es_no_fiscal`.
    pub es_no_fiscal: bool,
    /// `tiene_promocion`: `""` or `"SI"` (a string, not a boolean).
    pub tiene_promocion: String,
    /// `codigo_promocion`: `""` or e.g. `PROMO-0012`.
    pub codigo_promocion: String,
}

impl SimSale {
    /// `hora` as the wire carries it: `HH:MM:SS.fffffff`.
    pub fn hora_text(&self) -> String {
        let mut out = Vec::with_capacity(16);
        super::json::put_ticks(&mut out, time_to_ticks(self.hora));
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The identity of a line within a store: (`numero_factura`, `linea`).
    pub fn key(&self) -> (&str, u32) {
        (&self.numero_factura, self.linea)
    }
}

pub(crate) fn time_to_ticks(t: NaiveTime) -> u64 {
    use chrono::Timelike;
    u64::from(t.num_seconds_from_midnight()) * TICKS_PER_SECOND + u64::from(t.nanosecond() / 100)
}

pub(crate) fn ticks_to_time(ticks: u64) -> NaiveTime {
    let secs = (ticks / TICKS_PER_SECOND) as u32;
    let nanos = ((ticks % TICKS_PER_SECOND) * 100) as u32;
    NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos).unwrap_or(NaiveTime::MIN)
}

pub(crate) fn unit_name(unit: SaleUnit) -> &'static str {
    match unit {
        SaleUnit::Unit => "UNIDAD",
        SaleUnit::Kilo => "KILO",
        SaleUnit::Case(_) => "BULTO",
    }
}

/// The (code, name) of a line's warehouse.
pub(crate) fn warehouse_of(branch: &SimBranch, index: u8) -> (&str, &str) {
    match index {
        0 => (&branch.warehouse, &branch.warehouse_name),
        i => branch
            .other_warehouses
            .get(usize::from(i) - 1)
            .map_or((&branch.warehouse, &branch.warehouse_name), |w| {
                (&w.code, &w.name)
            }),
    }
}

pub(crate) fn to_sale(
    rec: &LineRec,
    day: &DayData,
    branch: &SimBranch,
    catalog: &Catalog,
) -> SimSale {
    let article = &catalog.articles[rec.article as usize];
    let numbers = day.numbers(rec, catalog);
    let num = |i: usize| -> Option<Decimal> {
        (usize::from(rec.null_field) != i + 1)
            .then(|| Decimal::new(numbers[i], NUMERIC_FIELDS[i].1))
    };
    let hora = ticks_to_time(rec.ticks);
    let (wh_code, wh_name) = warehouse_of(branch, rec.warehouse);
    let mut invoice = Vec::with_capacity(16);
    super::json::put_invoice_number(&mut invoice, rec);
    SimSale {
        numero_factura: String::from_utf8_lossy(&invoice).into_owned(),
        fecha: day.date,
        hora,
        fecha_hora_completa: day
            .date
            .and_time(ticks_to_time(rec.ticks - rec.ticks % TICKS_PER_SECOND)),
        linea: u32::from(rec.linea),
        codigo_producto: article.code.clone(),
        descripcion_producto: article.description.clone(),
        marca_producto: article.brand.map(str::to_owned),
        modelo_producto: article.model.clone(),
        categoria_producto: article.category.to_owned(),
        grupo_articulo: article.group.to_owned(),
        subgrupo_producto: article.subgroup.to_owned(),
        categoria_nombre: article.category_name.to_owned(),
        codigo_barras: article.barcode.clone(),
        serial: String::new(),
        imei: String::new(),
        cuadrante_producto: article.quadrant.clone(),
        codigo_almacen: wh_code.to_owned(),
        nombre_almacen: wh_name.to_owned(),
        cantidad_vendida: num(0),
        peso_unitario: num(1),
        peso_bruto: num(2),
        volumen_unitario: num(3),
        unidad_medida_venta: unit_name(article.unit).to_owned(),
        factor_unidad_medida: num(4),
        total_cantidad_por_unidad_medida: num(5),
        peso_calculado: num(6),
        costo_unitario_bs: num(7),
        costo_unitario_usd: num(8),
        precio_unitario_bs: num(9),
        precio_unitario_usd: num(10),
        impuesto_porcentaje: num(11),
        impuesto_monto: num(12),
        porcentaje_descuento: num(13),
        monto_descuento: num(14),
        porcentaje_descuento_fidelizacion: num(15),
        monto_descuento_fidelizacion: num(16),
        porcentaje_descuento_forma_pago: num(17),
        monto_descuento_forma_pago: num(18),
        venta_total_bs: num(19),
        venta_total_usd: num(20),
        costo_total_bs: num(21),
        costo_total_usd: num(22),
        utilidad_bruta_bs: num(23),
        utilidad_bruta_usd: num(24),
        total_factura: num(25),
        tasa_usd: num(26),
        es_no_fiscal: rec.non_fiscal,
        tiene_promocion: if rec.promo > 0 {
            "SI".into()
        } else {
            String::new()
        },
        codigo_promocion: if rec.promo > 0 {
            format!("PROMO-{:04}", rec.promo)
        } else {
            String::new()
        },
    }
}

// ---------------------------------------------------------------------------------------------------
// Inventory

/// One inventory article exactly as the simulator serves it (`"N/A"` where KLK writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimArticle {
    /// `NombreProducto`: description.
    pub nombre_producto: String,
    /// `Codigo`: SKU with leading zeros.
    pub codigo: String,
    /// `Barra`: barcode (short PLU for goods sold by weight), `"N/A"` when none.
    pub barra: String,
    /// `Categoria`: category id.
    pub categoria: String,
    /// `Descripcion`: category name, sometimes `"N/A"`.
    pub descripcion: String,
    /// `Subcategoria`: subcategory id.
    pub subcategoria: String,
    /// `Descripcion_categoria`: group.
    pub descripcion_categoria: String,
    /// `Marca`: brand, `"N/A"` when none.
    pub marca: String,
    /// `Precio`: dollar price; rarely `null`.
    pub precio: Option<Decimal>,
    /// `Iva`: VAT percentage.
    pub iva: Option<Decimal>,
    /// `stock`: may be negative, fractional for goods sold by weight.
    pub stock: Option<Decimal>,
}

/// One inventory entry, compact: article index and stock in thousandths.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StockRec {
    pub article: u32,
    pub stock: i64,
}

/// Stock of one warehouse on one date: about 97 % of the catalogue, 4 % of it negative.
fn warehouse_stock(
    seed: u64,
    catalog: &Catalog,
    warehouse: &str,
    date: NaiveDate,
) -> Vec<StockRec> {
    let carried = Mix::new(seed).s("surtido").s(warehouse);
    let daily = Mix::new(seed).s("stock").s(warehouse).date(date);
    catalog
        .articles
        .iter()
        .enumerate()
        .filter(|(i, _)| carried.u(*i as u64).below(100) < 97)
        .map(|(i, article)| {
            let h = daily.u(i as u64);
            let roll = h.below(1000);
            let magnitude = h.u(1).below(if article.unit == SaleUnit::Kilo {
                80_000
            } else {
                240
            }) as i64;
            let stock = match (roll, article.unit) {
                (0..=39, SaleUnit::Kilo) => -(magnitude / 10) - 1,
                (0..=39, _) => -((magnitude % 12) + 1) * 1000,
                (40..=89, _) => 0,
                (_, SaleUnit::Kilo) => magnitude,
                (_, _) => magnitude * 1000,
            };
            StockRec {
                article: i as u32,
                stock,
            }
        })
        .collect()
}

/// Stock of several warehouses summed per article (KLK answers one entry per article; the entries carry
/// no warehouse code). `CONS` is the sum over every store's sales floor.
pub(crate) fn inventory_stock(
    config: &KlkSimConfig,
    catalog: &Catalog,
    warehouses: &[String],
    date: NaiveDate,
) -> Vec<StockRec> {
    let mut sums: Vec<Option<i64>> = vec![None; catalog.articles.len()];
    let mut add = |code: &str| {
        for rec in warehouse_stock(config.seed, catalog, code, date) {
            let slot = &mut sums[rec.article as usize];
            *slot = Some(slot.unwrap_or(0) + rec.stock);
        }
    };
    for code in warehouses {
        match config.branch_of_warehouse(code) {
            Some(b) if b.kind == BranchKind::Consolidated => {
                for store in config.stores.iter().filter(|s| s.kind == BranchKind::Store) {
                    add(&store.warehouse);
                }
            }
            Some(_) => add(code),
            None => {}
        }
    }
    sums.into_iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.map(|stock| StockRec {
                article: i as u32,
                stock,
            })
        })
        .collect()
}

pub(crate) fn to_article(rec: &StockRec, catalog: &Catalog) -> SimArticle {
    let a = &catalog.articles[rec.article as usize];
    let na = |s: &str| {
        if s.is_empty() {
            "N/A".to_owned()
        } else {
            s.to_owned()
        }
    };
    SimArticle {
        nombre_producto: a.description.clone(),
        codigo: a.code.clone(),
        barra: na(&a.barcode),
        categoria: a.category_id.clone(),
        descripcion: if a.category_missing {
            "N/A".into()
        } else {
            a.category.to_owned()
        },
        subcategoria: a.subcategory_id.clone(),
        descripcion_categoria: a.group.to_owned(),
        marca: na(a.brand.unwrap_or("")),
        precio: (!a.price_null).then(|| Decimal::new(a.price_usd_cents, 2)),
        iva: Some(Decimal::new(a.tax, 0)),
        stock: Some(Decimal::new(rec.stock, 3)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn rate_matches_the_vendor_sample_and_drifts_up() {
        let r = rate_cents(1, day(2025, 11, 17));
        assert!((23_600..=23_700).contains(&r), "{r}");
        assert!(rate_cents(1, day(2025, 12, 17)) > r);
        assert!(rate_cents(1, day(2020, 1, 1)) >= 1);
        assert_eq!(rate_cents(1, day(2025, 11, 17)), r);
    }

    #[test]
    fn div_round_is_half_away_from_zero() {
        assert_eq!(div_round(5, 10), 1);
        assert_eq!(div_round(-5, 10), -1);
        assert_eq!(div_round(4, 10), 0);
        assert_eq!(div_round(-14, 10), -1);
    }

    #[test]
    fn catalogue_is_realistic() {
        let catalog = Catalog::new(3, 4000);
        assert_eq!(catalog.articles.len(), 4000);
        let codes: std::collections::HashSet<_> =
            catalog.articles.iter().map(|a| &a.code).collect();
        assert_eq!(codes.len(), 4000);
        assert!(catalog.articles.iter().all(|a| a.code.len() == 6));
        assert!(catalog.articles[0].code.starts_with("00000"));
        let kilo = catalog
            .articles
            .iter()
            .filter(|a| a.unit == SaleUnit::Kilo)
            .count();
        assert!(kilo > 400 && kilo < 1600, "{kilo}");
        let groups: std::collections::HashSet<_> =
            catalog.articles.iter().map(|a| a.group).collect();
        assert!(groups.len() >= 10);
        assert!(catalog.articles.iter().any(|a| a.description.contains('"')));
        assert!(catalog.articles.iter().any(|a| a.quadrant.is_some()));
        assert!(catalog.articles.iter().any(|a| a.brand.is_none()));
        for a in catalog.articles.iter().filter(|a| a.barcode.len() == 13) {
            assert!(a.barcode.starts_with("759"));
        }
    }

    #[test]
    fn a_day_has_the_configured_volume_and_shape() {
        let config = KlkSimConfig::default();
        let catalog = Catalog::new(config.seed, config.articles);
        let d = generate_day(&config, &catalog, "SUC001", day(2025, 11, 17));
        assert!((10_000..=30_000).contains(&d.lines.len()));
        let first = d.lines.first().unwrap().ticks;
        let last = d.lines.iter().map(|l| l.ticks).max().unwrap();
        assert!(first >= OPEN_TICKS);
        assert!(last < 22 * 3600 * TICKS_PER_SECOND);
        // (invoice, line) is unique, lines are numbered from 1.
        let mut keys: Vec<_> = d
            .lines
            .iter()
            .map(|l| (l.kind, l.till, l.seq, l.linea))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), d.lines.len());
        assert!(d.lines.iter().any(|l| l.linea > 5));
        assert!(d
            .lines
            .iter()
            .any(|l| l.kind == b'D' && l.qty < 0 && l.warehouse == 1));
        assert!(d.lines.iter().any(|l| l.null_field > 0));
        assert!(d.lines.iter().any(|l| l.qty % 1000 != 0));
        // Another store, same date: same numbering scheme, so numbers collide across stores.
        let other = generate_day(&config, &catalog, "SUC007", day(2025, 11, 17));
        let ours: std::collections::HashSet<_> = d.lines.iter().map(|l| (l.till, l.seq)).collect();
        assert!(other.lines.iter().any(|l| ours.contains(&(l.till, l.seq))));
        assert!(other.lines.iter().all(|l| l.warehouse == 0));
    }

    #[test]
    fn amounts_are_consistent_with_the_rate() {
        let config = KlkSimConfig::default();
        let catalog = Catalog::new(config.seed, config.articles);
        let date = day(2025, 11, 20);
        let b = config.branch("SUC014").unwrap();
        let d = generate_day(&config, &catalog, "SUC014", date);
        let mut negative_profit = 0;
        for rec in d.lines.iter().filter(|l| l.null_field == 0) {
            let s = to_sale(rec, &d, b, &catalog);
            let rate = s.tasa_usd.unwrap();
            let usd = s.venta_total_usd.unwrap();
            let bs = s.venta_total_bs.unwrap();
            assert!((usd * rate - bs).abs() < Decimal::new(1, 2), "{s:?}");
            let tax = bs * s.impuesto_porcentaje.unwrap() / Decimal::from(100);
            assert_eq!(tax, s.impuesto_monto.unwrap());
            assert_eq!(s.utilidad_bruta_bs.unwrap(), bs - s.costo_total_bs.unwrap());
            if s.utilidad_bruta_bs.unwrap() < Decimal::ZERO {
                negative_profit += 1;
            }
        }
        assert!(negative_profit > 0);
    }

    #[test]
    fn closed_and_non_selling_branches_are_empty() {
        let mut config = KlkSimConfig::default();
        config.closed.push(super::super::config::ClosedDay {
            branch: "SUC001".into(),
            date: day(2025, 11, 17),
        });
        let catalog = Catalog::new(config.seed, 100);
        assert!(generate_day(&config, &catalog, "SUC001", day(2025, 11, 17))
            .lines
            .is_empty());
        assert!(generate_day(&config, &catalog, "CONS", day(2025, 11, 18))
            .lines
            .is_empty());
        assert!(generate_day(&config, &catalog, "CEDI", day(2025, 11, 18))
            .lines
            .is_empty());
        assert!(generate_day(&config, &catalog, "SUC999", day(2025, 11, 18))
            .lines
            .is_empty());
    }

    #[test]
    fn stock_has_negative_and_fractional_values_and_consolidates() {
        let config = KlkSimConfig::default();
        let catalog = Catalog::new(config.seed, config.articles);
        let date = day(2025, 11, 18);
        let stock = inventory_stock(&config, &catalog, &["APP-TPF".into()], date);
        assert!(stock.len() > 3700 && stock.len() < 4000, "{}", stock.len());
        assert!(stock.iter().any(|s| s.stock < 0));
        assert!(stock.iter().any(|s| s.stock < 0 && s.stock % 1000 != 0));
        assert!(stock.iter().any(|s| s.stock > 0 && s.stock % 1000 != 0));
        let cons = inventory_stock(&config, &catalog, &["CONS".into()], date);
        assert!(cons.len() >= stock.len());
        assert!(inventory_stock(&config, &catalog, &["NOPE".into()], date).is_empty());
    }
}
