//! The KLK simulator over real loopback HTTP: every endpoint's shape, the data against
//! `sales_for_day`/`inventory_for`, window semantics, and every fault as a client observes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// One module named after the simulator, so that `cargo test -p fluxion-etl-sim klk` selects these too.
mod klk {

    use std::str::FromStr;
    use std::time::{Duration, Instant};

    use chrono::{DateTime, NaiveDate, Utc};
    use fluxion_etl_sim::klk::{
        inventory_for, sales_for_day, sales_for_request, ClosedDay, Endpoint, Fault, FaultRule,
        KlkSim, KlkSimConfig, SalesQuery, SimSale,
    };
    use futures::StreamExt;
    use rust_decimal::Decimal;
    use serde_json::{json, Value};

    fn date(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).unwrap()
    }

    fn clock() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-18T13:45:09.488Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A small, fast configuration: a few thousand lines per day.
    fn small() -> KlkSimConfig {
        KlkSimConfig {
            lines_per_day: (2_000, 3_000),
            null_ratio: 0.01,
            fixed_clock: Some(clock()),
            ..KlkSimConfig::default()
        }
    }

    async fn start(config: KlkSimConfig) -> KlkSim {
        KlkSim::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    fn day_request(branch: &str, warehouse: &str, day: &str) -> Value {
        json!({"sucursal": branch, "fecha_desde": day, "fecha_hasta": day, "almacen": warehouse})
    }

    async fn post(sim: &KlkSim, path: &str, body: &Value) -> reqwest::Response {
        client()
            .post(format!("{}{path}", sim.base_url()))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn post_json(sim: &KlkSim, path: &str, body: &Value) -> Value {
        let response = post(sim, path, body).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    async fn get_json(sim: &KlkSim, path: &str) -> Value {
        let response = client()
            .get(format!("{}{path}", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// A JSON number or null as the `Decimal` it spells. Every simulator number has at most 15
    /// significant digits, so the f64 round trip prints the same digits.
    fn dec(v: &Value) -> Option<Decimal> {
        match v {
            Value::Null => None,
            Value::Number(n) => Some(Decimal::from_str(&n.to_string()).unwrap()),
            other => panic!("not a number: {other}"),
        }
    }

    fn text(v: &Value) -> &str {
        v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
    }

    /// Asserts that a served line equals the expected `SimSale`, field by field.
    fn assert_line(v: &Value, s: &SimSale) {
        assert_eq!(text(&v["numero_factura"]), s.numero_factura);
        assert_eq!(text(&v["fecha"]), s.fecha.to_string());
        assert_eq!(text(&v["hora"]), s.hora_text());
        assert_eq!(
            text(&v["fecha_hora_completa"]),
            s.fecha_hora_completa
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        );
        assert_eq!(v["linea"].as_u64().unwrap(), u64::from(s.linea));
        let p = &v["producto"].as_array().unwrap()[0];
        assert_eq!(text(&p["codigo_producto"]), s.codigo_producto);
        assert_eq!(text(&p["descripcion_producto"]), s.descripcion_producto);
        assert_eq!(p["marca_producto"].as_str(), s.marca_producto.as_deref());
        assert_eq!(text(&p["modelo_producto"]), s.modelo_producto);
        assert_eq!(text(&p["categoria_producto"]), s.categoria_producto);
        assert_eq!(text(&p["grupo_articulo"]), s.grupo_articulo);
        assert_eq!(text(&p["subgrupo_producto"]), s.subgrupo_producto);
        assert_eq!(text(&p["categoria_nombre"]), s.categoria_nombre);
        assert_eq!(text(&p["codigo_barras"]), s.codigo_barras);
        assert_eq!(text(&p["serial"]), s.serial);
        assert_eq!(text(&p["imei"]), s.imei);
        assert_eq!(
            p.get("cuadrante_producto").map(|q| text(q).to_owned()),
            s.cuadrante_producto
        );
        let c = &v["cantidad"].as_array().unwrap()[0];
        assert_eq!(text(&c["codigo_almacen"]), s.codigo_almacen);
        assert_eq!(text(&c["nombre_almacen"]), s.nombre_almacen);
        assert_eq!(text(&c["unidad_medida_venta"]), s.unidad_medida_venta);
        let pairs = [
            (&c["cantidad_vendida"], s.cantidad_vendida),
            (&c["peso_unitario"], s.peso_unitario),
            (&c["peso_bruto"], s.peso_bruto),
            (&c["volumen_unitario"], s.volumen_unitario),
            (&c["factor_unidad_medida"], s.factor_unidad_medida),
            (
                &c["total_cantidad_por_unidad_medida"],
                s.total_cantidad_por_unidad_medida,
            ),
            (&c["peso_calculado"], s.peso_calculado),
        ];
        for (got, want) in pairs {
            assert_eq!(dec(got), want, "{v}");
        }
        let f = &v["financiero"].as_array().unwrap()[0];
        let pairs = [
            ("costo_unitario_bs", s.costo_unitario_bs),
            ("costo_unitario_usd", s.costo_unitario_usd),
            ("precio_unitario_bs", s.precio_unitario_bs),
            ("precio_unitario_usd", s.precio_unitario_usd),
            ("impuesto_porcentaje", s.impuesto_porcentaje),
            ("impuesto_monto", s.impuesto_monto),
            ("porcentaje_descuento", s.porcentaje_descuento),
            ("monto_descuento", s.monto_descuento),
            (
                "porcentaje_descuento_fidelizacion",
                s.porcentaje_descuento_fidelizacion,
            ),
            (
                "monto_descuento_fidelizacion",
                s.monto_descuento_fidelizacion,
            ),
            (
                "porcentaje_descuento_forma_pago",
                s.porcentaje_descuento_forma_pago,
            ),
            ("monto_descuento_forma_pago", s.monto_descuento_forma_pago),
            ("venta_total_bs", s.venta_total_bs),
            ("venta_total_usd", s.venta_total_usd),
            ("costo_total_bs", s.costo_total_bs),
            ("costo_total_usd", s.costo_total_usd),
            ("utilidad_bruta_bs", s.utilidad_bruta_bs),
            ("utilidad_bruta_usd", s.utilidad_bruta_usd),
        ];
        for (key, want) in pairs {
            assert_eq!(dec(&f[key]), want, "{key} in {v}");
        }
        assert_eq!(f.as_object().unwrap().len(), 18);
        assert_eq!(dec(&v["total_factura"]), s.total_factura);
        assert_eq!(dec(&v["tasa_usd"]), s.tasa_usd);
        assert_eq!(v["es_no_fiscal"].as_bool().unwrap(), s.es_no_fiscal);
        assert_eq!(text(&v["tiene_promocion"]), s.tiene_promocion);
        assert_eq!(text(&v["codigo_promocion"]), s.codigo_promocion);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_day_is_served_exactly_as_sales_for_day_says() {
        let config = small();
        let sim = start(config.clone()).await;
        let body = post_json(
            &sim,
            "/ventas",
            &day_request("SUC001", "APP-TPF", "2025-11-17"),
        )
        .await;

        let meta = &body["meta"];
        assert_eq!(meta["sucursal_codigo"], "SUC001");
        assert_eq!(meta["fecha_desde"], "2025-11-17");
        assert_eq!(meta["fecha_hasta"], "2025-11-17");
        assert_eq!(meta["almacen"], "APP-TPF");
        assert_eq!(meta["CodArticulo"], "");
        assert_eq!(meta["hora_desde"], "");
        assert_eq!(meta["fecha_generacion"], "2025-11-18T13:45:09.488Z");

        let expected: Vec<SimSale> = sales_for_day(&config, "SUC001", date("2025-11-17"))
            .into_iter()
            .filter(|s| s.codigo_almacen == "APP-TPF")
            .collect();
        let ventas = body["ventas"].as_array().unwrap();
        assert_eq!(
            meta["total_registros"].as_u64().unwrap() as usize,
            ventas.len()
        );
        assert_eq!(ventas.len(), expected.len());
        assert!((2_000..=3_000).contains(&ventas.len()));
        for (v, s) in ventas.iter().zip(&expected) {
            assert_line(v, s);
        }

        // The vendor's quirks are all there.
        let hora = text(&ventas[0]["hora"]);
        assert_eq!(hora.len(), 16, "{hora}");
        assert_eq!(hora.as_bytes()[8], b'.');
        assert_eq!(text(&ventas[0]["fecha_hora_completa"]).len(), 19);
        assert!(ventas
            .iter()
            .all(|v| v["producto"].as_array().unwrap().len() == 1
                && v["cantidad"].as_array().unwrap().len() == 1
                && v["financiero"].as_array().unwrap().len() == 1));
        assert!(ventas.iter().all(|v| v["tiene_promocion"].is_string()));
        assert!(ventas.iter().any(|v| v["tiene_promocion"] == "SI"));
        assert!(ventas
            .iter()
            .any(|v| v["producto"][0].get("cuadrante_producto").is_some()));
        assert!(ventas
            .iter()
            .any(|v| v["producto"][0].get("cuadrante_producto").is_none()));
        assert!(ventas.iter().any(|v| {
            let q = dec(&v["cantidad"][0]["cantidad_vendida"]);
            v["cantidad"][0]["unidad_medida_venta"] == "KILO"
                && q.is_some_and(|q| q.fract() != Decimal::ZERO)
        }));
        assert!(ventas
            .iter()
            .any(|v| dec(&v["financiero"][0]["utilidad_bruta_bs"])
                .is_some_and(|p| p < Decimal::ZERO)));
        let nulls = |obj: &Value| {
            obj.as_object()
                .unwrap()
                .values()
                .filter(|x| x.is_null())
                .count()
        };
        assert!(ventas
            .iter()
            .any(|v| nulls(&v["financiero"][0]) + nulls(&v["cantidad"][0]) + nulls(v) > 0));
        let codes: Vec<&str> = ventas
            .iter()
            .map(|v| text(&v["producto"][0]["codigo_producto"]))
            .collect();
        assert!(codes
            .iter()
            .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        assert!(codes.iter().any(|c| c.starts_with("00")));
        // Multi-line invoices.
        assert!(ventas.iter().any(|v| v["linea"].as_u64().unwrap() >= 5));
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_seed_same_bytes_other_seed_other_bytes() {
        let request = day_request("SUC007", "TAVBOL", "2025-11-20");
        let mut bodies = Vec::new();
        for seed in [11, 11, 12] {
            let sim = start(KlkSimConfig { seed, ..small() }).await;
            let bytes = post(&sim, "/ventas", &request).await.bytes().await.unwrap();
            bodies.push(bytes);
            sim.shutdown().await;
        }
        assert_eq!(bodies[0], bodies[1]);
        assert_ne!(bodies[0], bodies[2]);
        // Different branches and days differ, and the same invoice numbers recur across stores.
        let config = small();
        let a = sales_for_day(&config, "SUC007", date("2025-11-20"));
        let b = sales_for_day(&config, "SUC008", date("2025-11-20"));
        assert_ne!(a, b);
        assert_eq!(a, sales_for_day(&config, "SUC007", date("2025-11-20")));
        assert!(a
            .iter()
            .any(|x| b.iter().any(|y| y.numero_factura == x.numero_factura)));
        // Per store, (invoice, line) is unique across days.
        let mut keys: Vec<_> = a
            .iter()
            .map(|s| (s.numero_factura.clone(), s.linea))
            .collect();
        keys.extend(
            sales_for_day(&config, "SUC007", date("2025-11-21"))
                .iter()
                .map(|s| (s.numero_factura.clone(), s.linea)),
        );
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repeated_requests_are_served_from_the_encoded_cache_with_the_same_bytes() {
        let config = KlkSimConfig {
            chunk_bytes: 10_000,
            ..small()
        };
        let uncached = start(KlkSimConfig {
            encoded_cache_mb: 0,
            ..config.clone()
        })
        .await;
        let sim = start(config).await;
        let requests = [
            day_request("SUC001", "APP-TPF", "2025-11-17"),
            json!({"sucursal": "SUC001", "fecha_desde": "2025-11-17", "fecha_hasta": "2025-11-18"}),
            json!({"sucursal": "SUC001", "fecha_desde": "2025-11-17", "fecha_hasta": "2025-11-18",
                "hora_desde": "21:00", "hora_hasta": "06:30", "almacen": "APP-TPF"}),
            json!({"sucursal": "SUC001", "fecha_desde": "2025-11-18", "fecha_hasta": "2025-11-18",
                "hora_desde": "10:00", "hora_hasta": "10:05", "almacen": "APP-DPF"}),
        ];
        for request in &requests {
            let reference = post(&uncached, "/ventas", request)
                .await
                .bytes()
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&reference).unwrap();
            // First (generated), second (encoded for the cache), third (from the cache).
            for round in 0..3 {
                let bytes = post(&sim, "/ventas", request).await.bytes().await.unwrap();
                assert!(bytes == reference, "round {round} of {request}");
            }
        }
        // JSON faults still apply to cached days.
        for fault in [Fault::MalformedJson, Fault::Truncated] {
            sim.set_faults(vec![FaultRule::new(fault)]);
            let bytes = post(&sim, "/ventas", &requests[0])
                .await
                .bytes()
                .await
                .unwrap();
            assert!(serde_json::from_slice::<Value>(&bytes).is_err());
        }
        sim.shutdown().await;
        uncached.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn default_volume_and_day_rate() {
        let config = KlkSimConfig::default();
        let day = sales_for_day(&config, "SUC002", date("2025-11-17"));
        assert!((10_000..=30_000).contains(&day.len()), "{}", day.len());
        let rate = day[0].tasa_usd.or(day[1].tasa_usd).unwrap();
        assert!(
            rate > Decimal::from(230) && rate < Decimal::from(243),
            "{rate}"
        );
        // Same rate in every store on a day.
        let other = sales_for_day(&config, "SUC003", date("2025-11-17"));
        assert!(other.iter().filter_map(|s| s.tasa_usd).all(|r| r == rate));
        let first = day.iter().map(|s| s.hora).min().unwrap();
        let last = day.iter().map(|s| s.hora).max().unwrap();
        assert!(first >= chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap());
        assert!(last < chrono::NaiveTime::from_hms_opt(22, 0, 0).unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hour_windows_are_inclusive_of_the_end_minute() {
        let config = small();
        let sim = start(config.clone()).await;
        let whole_day = sales_for_day(&config, "SUC014", date("2025-11-17"));
        // End the window on the first minute from 12:20 that has a sale, and start it 20 minutes earlier.
        let end = whole_day
            .iter()
            .map(|s| s.hora)
            .filter(|h| *h >= chrono::NaiveTime::from_hms_opt(12, 20, 0).unwrap())
            .min()
            .unwrap();
        let end_minute = end.format("%H:%M").to_string();
        let start_minute = (end - chrono::Duration::minutes(20))
            .format("%H:%M")
            .to_string();
        let after_end = (end + chrono::Duration::minutes(1))
            .format("%H:%M")
            .to_string();
        let request = json!({"sucursal": "SUC014", "fecha_desde": "2025-11-17", "fecha_hasta": "2025-11-17",
        "hora_desde": start_minute, "hora_hasta": end_minute, "almacen": "TSDGO"});
        let body = post_json(&sim, "/ventas", &request).await;
        let ventas = body["ventas"].as_array().unwrap();
        let horas: Vec<&str> = ventas.iter().map(|v| text(&v["hora"])).collect();
        assert!(horas
            .iter()
            .all(|h| *h >= start_minute.as_str() && *h < after_end.as_str()));
        assert!(
            horas
                .iter()
                .any(|h| h.starts_with(&format!("{end_minute}:"))),
            "the end minute {end_minute} is served"
        );
        let expected = whole_day
            .iter()
            .filter(|s| {
                let h = s.hora_text();
                h >= start_minute && h < after_end
            })
            .count();
        assert_eq!(ventas.len(), expected);

        // HH:MM:SS is inclusive of that second.
        let request = json!({"sucursal": "SUC014", "fecha_desde": "2025-11-17", "fecha_hasta": "2025-11-17",
        "hora_desde": "12:00:00", "hora_hasta": "12:10:30", "almacen": "TSDGO"});
        let body = post_json(&sim, "/ventas", &request).await;
        let expected = whole_day
            .iter()
            .filter(|s| {
                let h = s.hora_text();
                h.as_str() >= "12:00:00" && h.as_str() < "12:10:31"
            })
            .count();
        assert_eq!(body["ventas"].as_array().unwrap().len(), expected);
        assert_eq!(body["meta"]["hora_hasta"], "12:10:30");

        // Hours bound the span: from 20:00 on the first day to 07:00 (inclusive) on the last, days between whole.
        let request = json!({"sucursal": "SUC014", "fecha_desde": "2025-11-17", "fecha_hasta": "2025-11-19",
        "hora_desde": "20:00", "hora_hasta": "07:00", "almacen": "TSDGO"});
        let body = post_json(&sim, "/ventas", &request).await;
        let ventas = body["ventas"].as_array().unwrap();
        let count = |d: &str| ventas.iter().filter(|v| v["fecha"] == d).count();
        let first = sales_for_day(&config, "SUC014", date("2025-11-17"))
            .iter()
            .filter(|s| s.hora_text().as_str() >= "20:00")
            .count();
        let middle = sales_for_day(&config, "SUC014", date("2025-11-18")).len();
        let last = sales_for_day(&config, "SUC014", date("2025-11-19"))
            .iter()
            .filter(|s| s.hora_text().as_str() < "07:01")
            .count();
        assert_eq!(
            (
                count("2025-11-17"),
                count("2025-11-18"),
                count("2025-11-19")
            ),
            (first, middle, last)
        );
        assert_eq!(
            body["meta"]["total_registros"].as_u64().unwrap() as usize,
            ventas.len()
        );
        // And the server agrees with `sales_for_request`.
        let query = SalesQuery {
            hora_desde: Some("20:00".into()),
            hora_hasta: Some("07:00".into()),
            almacen: Some("TSDGO".into()),
            fecha_hasta: date("2025-11-19"),
            ..SalesQuery::day("SUC014", date("2025-11-17"))
        };
        let expected = sales_for_request(&config, &query).unwrap();
        assert_eq!(expected.len(), ventas.len());
        for (v, s) in ventas.iter().zip(&expected) {
            assert_line(v, s);
        }
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn warehouse_and_article_filters() {
        let config = small();
        let sim = start(config.clone()).await;
        let all = sales_for_day(&config, "SUC001", date("2025-11-18"));
        // Without `almacen`, the returns booked on APP-DPF are folded in.
        let request =
            json!({"sucursal": "SUC001", "fecha_desde": "2025-11-18", "fecha_hasta": "2025-11-18"});
        let body = post_json(&sim, "/ventas", &request).await;
        assert_eq!(body["ventas"].as_array().unwrap().len(), all.len());
        let returns: Vec<&SimSale> = all
            .iter()
            .filter(|s| s.codigo_almacen == "APP-DPF")
            .collect();
        assert!(!returns.is_empty(), "SUC001 books some returns on APP-DPF");
        assert!(returns
            .iter()
            .all(|s| s.cantidad_vendida.is_none_or(|q| q < Decimal::ZERO)));
        let body = post_json(
            &sim,
            "/ventas",
            &day_request("SUC001", "APP-DPF", "2025-11-18"),
        )
        .await;
        assert_eq!(body["ventas"].as_array().unwrap().len(), returns.len());
        // CodArticulo.
        let code = all[0].codigo_producto.clone();
        let mut request = day_request("SUC001", "APP-TPF", "2025-11-18");
        request["CodArticulo"] = json!(code);
        let body = post_json(&sim, "/ventas", &request).await;
        let ventas = body["ventas"].as_array().unwrap();
        assert!(!ventas.is_empty());
        assert!(ventas
            .iter()
            .all(|v| v["producto"][0]["codigo_producto"] == json!(code)));
        assert_eq!(body["meta"]["CodArticulo"], json!(code));
        // Unknown branch or warehouse: an empty answer, like the vendor's filter.
        let body = post_json(&sim, "/ventas", &day_request("SUC099", "X", "2025-11-18")).await;
        assert_eq!(body["ventas"], json!([]));
        let body = post_json(&sim, "/ventas", &day_request("SUC001", "TTZ", "2025-11-18")).await;
        assert_eq!(body["ventas"], json!([]));
        // Bad requests are 400 with an "error" body.
        for bad in [
            json!({"fecha_desde": "2025-11-18", "fecha_hasta": "2025-11-18"}),
            json!({"sucursal": "SUC001", "fecha_desde": "18/11/2025", "fecha_hasta": "2025-11-18"}),
            json!({"sucursal": "SUC001", "fecha_desde": "2025-11-18", "fecha_hasta": "2025-11-18", "hora_desde": "9am"}),
            json!({"sucursal": "SUC001", "fecha_desde": "2025-01-01", "fecha_hasta": "2025-12-31"}),
        ] {
            let response = post(&sim, "/ventas", &bad).await;
            assert_eq!(response.status(), 400, "{bad}");
            let v: Value = response.json().await.unwrap();
            assert!(v["error"].is_string());
        }
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_day_serves_an_empty_array() {
        let mut config = small();
        config.closed.push(ClosedDay {
            branch: "SUC009".into(),
            date: date("2025-12-25"),
        });
        let sim = start(config.clone()).await;
        let body = post_json(
            &sim,
            "/ventas",
            &day_request("SUC009", "TFER", "2025-12-25"),
        )
        .await;
        assert_eq!(body["ventas"], json!([]));
        assert_eq!(body["meta"]["total_registros"], 0);
        assert!(sales_for_day(&config, "SUC009", date("2025-12-25")).is_empty());
        // The day after, and another store that day, sell.
        let body = post_json(
            &sim,
            "/ventas",
            &day_request("SUC009", "TFER", "2025-12-26"),
        )
        .await;
        assert!(!body["ventas"].as_array().unwrap().is_empty());
        let body = post_json(
            &sim,
            "/ventas",
            &day_request("SUC010", "TTCYTO", "2025-12-25"),
        )
        .await;
        assert!(!body["ventas"].as_array().unwrap().is_empty());
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn warehouse_lists() {
        let sim = start(small()).await;
        let all = get_json(&sim, "/maestra/almacenes/Reposicion").await;
        let all = all.as_array().unwrap();
        for w in all {
            let keys: Vec<&String> = w.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                [
                    "CodigoAlmacen",
                    "CodigoSucursal",
                    "NombreAlmacen",
                    "NombreSucursal"
                ]
            );
        }
        assert!(all.iter().any(|w| w["CodigoAlmacen"] == "PCDICS"));
        assert!(!all.iter().any(|w| w["CodigoSucursal"] == "CONS"));
        assert_eq!(all.len(), 19 + 4 + 1);
        let one = get_json(&sim, "/maestra/almacenes/Reposicion?sucursal=SUC001").await;
        let codes: Vec<&str> = one
            .as_array()
            .unwrap()
            .iter()
            .map(|w| text(&w["CodigoAlmacen"]))
            .collect();
        assert_eq!(codes, ["APP-TPF", "APP-DPF", "APP-MPF", "PALT", "APP-PPF"]);
        let floor = get_json(&sim, "/maestra/almacenes/pisoventa").await;
        let floor = floor.as_array().unwrap();
        assert_eq!(floor.len(), 20);
        assert!(floor
            .iter()
            .any(|w| w["CodigoSucursal"] == "CONS" && w["NombreSucursal"] == "CONSOLIDADO"));
        assert!(floor.iter().any(|w| w["CodigoSucursal"] == "SUC008"
            && w["NombreSucursal"] == "MAÑONGO"
            && w["CodigoAlmacen"] == "TTMAN"));
        assert!(!floor.iter().any(|w| w["CodigoAlmacen"] == "PCDICS"));
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inventory_shapes_and_values() {
        let config = small();
        let sim = start(config.clone()).await;
        let today = date("2025-11-18"); // the fixed clock, in Caracas
        let body = post_json(
            &sim,
            "/maestra/articulos/almacen",
            &json!({"Codigoalmacen": "APP-TPF"}),
        )
        .await;
        let meta = &body["meta"];
        assert_eq!(meta["almacences_filtrados"], "[\"APP-TPF\"]");
        assert_eq!(meta["fecha_generacion"], "2025-11-18T13:45:09.488Z");
        let articulos = body["articulos"].as_array().unwrap();
        assert_eq!(
            meta["total_articulos"].as_u64().unwrap() as usize,
            articulos.len()
        );
        let expected = inventory_for(&config, "APP-TPF", today);
        assert_eq!(articulos.len(), expected.len());
        assert!(articulos.len() > 3_700 && articulos.len() < 4_000);
        for (a, e) in articulos.iter().zip(&expected) {
            assert_eq!(a.as_object().unwrap().len(), 11);
            assert_eq!(text(&a["NombreProducto"]), e.nombre_producto);
            assert_eq!(text(&a["Codigo"]), e.codigo);
            assert_eq!(text(&a["Barra"]), e.barra);
            assert_eq!(text(&a["Categoria"]), e.categoria);
            assert_eq!(text(&a["Descripcion"]), e.descripcion);
            assert_eq!(text(&a["Subcategoria"]), e.subcategoria);
            assert_eq!(text(&a["Descripcion_categoria"]), e.descripcion_categoria);
            assert_eq!(text(&a["Marca"]), e.marca);
            assert_eq!(dec(&a["Precio"]), e.precio);
            assert_eq!(dec(&a["Iva"]), e.iva);
            assert_eq!(dec(&a["stock"]), e.stock);
        }
        assert!(expected.iter().any(|a| a.marca == "N/A"));
        assert!(expected.iter().any(|a| a.descripcion == "N/A"));
        assert!(expected.iter().any(|a| a.stock.unwrap() < Decimal::ZERO));
        assert!(expected
            .iter()
            .any(|a| a.stock.unwrap().fract() != Decimal::ZERO));
        assert!(expected.iter().any(|a| a.codigo.starts_with("000")));
        assert!(expected.iter().any(|a| a.barra.len() == 5));

        // A list: the misspelled key holds the list as a JSON *string*.
        let body = post_json(
            &sim,
            "/maestra/articulos/almacen",
            &json!({"Codigoalmacen": ["PALT", "APP-PPF"]}),
        )
        .await;
        let filtered = text(&body["meta"]["almacences_filtrados"]);
        assert_eq!(filtered, "[\"PALT\",\"APP-PPF\"]");
        let inner: Vec<String> = serde_json::from_str(filtered).unwrap();
        assert_eq!(inner, ["PALT", "APP-PPF"]);
        assert!(body["articulos"].as_array().unwrap().len() >= articulos.len());

        // The key is case-sensitive.
        let response = post(
            &sim,
            "/maestra/articulos/almacen",
            &json!({"CodigoAlmacen": "APP-TPF"}),
        )
        .await;
        assert_eq!(response.status(), 400);

        // The /reposicion variant has a real array.
        let body = post_json(
            &sim,
            "/maestra/articulos/reposicion",
            &json!({"CodigoSucursal": "SUC001"}),
        )
        .await;
        assert_eq!(body["meta"]["tiendas_filtradas"], json!(["SUC001"]));
        assert_eq!(body["articulos"].as_array().unwrap().len(), expected.len());
        let body = post_json(
            &sim,
            "/maestra/articulos/reposicion",
            &json!({"CodigoSucursal": ["SUC001", "SUC002"]}),
        )
        .await;
        assert_eq!(
            body["meta"]["tiendas_filtradas"],
            json!(["SUC001", "SUC002"])
        );
        sim.shutdown().await;

        // Older servers: a bare array.
        let sim = start(KlkSimConfig {
            legacy_inventory_shape: true,
            ..config.clone()
        })
        .await;
        let body = post_json(
            &sim,
            "/maestra/articulos/almacen",
            &json!({"Codigoalmacen": "APP-TPF"}),
        )
        .await;
        assert_eq!(body.as_array().unwrap().len(), expected.len());
        assert_eq!(body[0]["Codigo"], json!(expected[0].codigo));
        sim.shutdown().await;
    }

    // ---------------------------------------------------------------------------------------------------
    // Faults

    async fn ventas_status(sim: &KlkSim, branch: &str, warehouse: &str) -> u16 {
        post(
            sim,
            "/ventas",
            &day_request(branch, warehouse, "2025-11-17"),
        )
        .await
        .status()
        .as_u16()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transient_503_then_success_and_request_counting() {
        let sim = start(small()).await;
        sim.set_faults(vec![FaultRule::new(Fault::Status { code: 503 })
            .for_branch("SUC001")
            .on(Endpoint::Ventas)
            .times(2)]);
        assert_eq!(ventas_status(&sim, "SUC001", "APP-TPF").await, 503);
        // Another branch is not affected and does not use up the rule.
        assert_eq!(ventas_status(&sim, "SUC007", "TAVBOL").await, 200);
        assert_eq!(ventas_status(&sim, "SUC001", "APP-TPF").await, 503);
        assert_eq!(ventas_status(&sim, "SUC001", "APP-TPF").await, 200);
        assert_eq!(sim.requests(), 4);
        // A warehouse code selects its branch too; 500 and 401 are plain statuses.
        sim.set_faults(vec![
            FaultRule::new(Fault::Status { code: 401 }).for_branch("TTZ"),
            FaultRule::new(Fault::Status { code: 500 }).for_branch("SUC002"),
        ]);
        assert_eq!(ventas_status(&sim, "SUC005", "TTZ").await, 401);
        assert_eq!(ventas_status(&sim, "SUC005", "TTZ").await, 401);
        assert_eq!(ventas_status(&sim, "SUC002", "APP-TBQ").await, 500);
        let response = post(
            &sim,
            "/maestra/articulos/almacen",
            &json!({"Codigoalmacen": "APP-TBQ"}),
        )
        .await;
        assert_eq!(response.status(), 500);
        sim.clear_faults();
        assert_eq!(ventas_status(&sim, "SUC005", "TTZ").await, 200);
        assert_eq!(sim.requests(), 9);
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn error_body_malformed_and_truncated_json() {
        let sim = start(small()).await;
        let request = day_request("SUC001", "APP-TPF", "2025-11-17");

        sim.set_faults(vec![FaultRule::new(Fault::ErrorBody {
            message: "Timeout expired".into(),
        })]);
        let body = post_json(&sim, "/ventas", &request).await;
        assert_eq!(body, json!({"error": "Timeout expired"}));

        for (fault, endpoint, path, body) in [
            (
                Fault::MalformedJson,
                Endpoint::Ventas,
                "/ventas",
                request.clone(),
            ),
            (
                Fault::Truncated,
                Endpoint::Ventas,
                "/ventas",
                request.clone(),
            ),
            (
                Fault::MalformedJson,
                Endpoint::ArticulosAlmacen,
                "/maestra/articulos/almacen",
                json!({"Codigoalmacen": "APP-TPF"}),
            ),
            (
                Fault::Truncated,
                Endpoint::ArticulosAlmacen,
                "/maestra/articulos/almacen",
                json!({"Codigoalmacen": "APP-TPF"}),
            ),
        ] {
            sim.set_faults(vec![FaultRule::new(fault.clone()).on(endpoint).times(1)]);
            let response = post(&sim, path, &body).await;
            assert_eq!(response.status(), 200);
            // The transport is fine: the body arrives whole, only the JSON is wrong.
            let bytes = response.bytes().await.unwrap();
            assert!(bytes.len() > 10_000, "{fault:?}: {}", bytes.len());
            let err = serde_json::from_slice::<Value>(&bytes).unwrap_err();
            match fault {
                Fault::Truncated => assert!(err.is_eof(), "{err}"),
                _ => assert!(err.is_syntax(), "{err}"),
            }
            // The next request is healthy again.
            let response = post(&sim, path, &body).await;
            serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).unwrap();
        }

        // Truncation of a closed day's empty array still breaks the JSON.
        sim.set_faults(vec![FaultRule::new(Fault::Truncated)]);
        let bytes = post(&sim, "/ventas", &day_request("CONS", "CONS", "2025-11-17"))
            .await
            .bytes()
            .await
            .unwrap();
        assert!(serde_json::from_slice::<Value>(&bytes).is_err());
        // Malformed JSON on a bare-array endpoint.
        sim.set_faults(vec![FaultRule::new(Fault::MalformedJson)]);
        let response = client()
            .get(format!("{}/maestra/almacenes/pisoventa", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert!(serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).is_err());
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reset_mid_body_is_a_body_error() {
        let sim = start(small()).await;
        sim.set_faults(vec![FaultRule::new(Fault::ResetMidBody {
            after_bytes: 100_000,
        })
        .for_branch("SUC001")
        .times(1)]);
        let response = post(
            &sim,
            "/ventas",
            &day_request("SUC001", "APP-TPF", "2025-11-17"),
        )
        .await;
        assert_eq!(response.status(), 200);
        let mut stream = response.bytes_stream();
        let mut received = 0usize;
        let mut failed = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => received += chunk.len(),
                Err(e) => {
                    assert!(e.is_body() || e.is_decode(), "{e:?}");
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "the body must end in an error, not cleanly");
        assert_eq!(received, 100_000);

        // A body shorter than the limit still resets, at its end.
        sim.set_faults(vec![FaultRule::new(Fault::ResetMidBody {
            after_bytes: 10_000_000,
        })]);
        let response = client()
            .get(format!("{}/maestra/almacenes/pisoventa", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert!(response.bytes().await.is_err());
        // The server keeps serving.
        sim.clear_faults();
        assert_eq!(ventas_status(&sim, "SUC001", "APP-TPF").await, 200);
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hang_and_stall_are_client_timeouts() {
        let sim = start(small()).await;
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_millis(400))
            .build()
            .unwrap();
        sim.set_faults(vec![FaultRule::new(Fault::Hang).on(Endpoint::Ventas)]);
        let started = Instant::now();
        let err = impatient
            .post(format!("{}/ventas", sim.base_url()))
            .json(&day_request("SUC001", "APP-TPF", "2025-11-17"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(started.elapsed() >= Duration::from_millis(400));
        // Other endpoints still answer.
        let floor = impatient
            .get(format!("{}/maestra/almacenes/pisoventa", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(floor.status(), 200);

        sim.set_faults(vec![FaultRule::new(Fault::StallMidBody {
            after_bytes: 5_000,
        })]);
        let response = impatient
            .post(format!("{}/ventas", sim.base_url()))
            .json(&day_request("SUC001", "APP-TPF", "2025-11-17"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let err = response.bytes().await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");

        // Shutting down releases hung requests promptly.
        sim.set_faults(vec![FaultRule::new(Fault::Hang)]);
        let url = format!("{}/maestra/almacenes/pisoventa", sim.base_url());
        let pending =
            tokio::spawn(async move { client().get(url).send().await.map(|r| r.status()) });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        sim.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(3));
        let outcome = pending.await.unwrap();
        assert!(outcome.is_err() || outcome.is_ok_and(|s| s == 503));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn latency_and_slow_drip() {
        let sim = start(small()).await;
        sim.set_faults(vec![
            FaultRule::new(Fault::Latency { ms: 300 }).for_branch("SUC003")
        ]);
        let started = Instant::now();
        assert_eq!(ventas_status(&sim, "SUC003", "TANT").await, 200);
        assert!(started.elapsed() >= Duration::from_millis(300));

        sim.set_faults(vec![FaultRule::new(Fault::SlowDrip {
            bytes_per_tick: 512,
            tick_ms: 20,
        })]);
        let started = Instant::now();
        let response = client()
            .get(format!("{}/maestra/almacenes/pisoventa", sim.base_url()))
            .send()
            .await
            .unwrap();
        let mut stream = response.bytes_stream();
        let mut chunks = 0;
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= 512);
            body.extend_from_slice(&chunk);
            chunks += 1;
        }
        let ticks = body.len().div_ceil(512);
        assert!(chunks >= ticks);
        assert!(started.elapsed() >= Duration::from_millis(20 * ticks as u64));
        let list: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 20);
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admin_endpoint_sets_lists_and_clears_faults() {
        let sim = start(small()).await;
        let http = client();
        let url = format!("{}/__admin/faults", sim.base_url());
        let rules = json!([
            {"branch": "SUC001", "endpoint": "ventas", "times": 1, "fault": {"kind": "status", "code": 503}},
            {"fault": {"kind": "error_body", "message": "boom"}, "endpoint": "articulos_almacen"}
        ]);
        let response = http.put(&url).json(&rules).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let listed: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed[0], rules[0]);
        assert_eq!(listed[1]["branch"], "*");
        assert_eq!(sim.faults().len(), 2);
        assert_eq!(ventas_status(&sim, "SUC001", "APP-TPF").await, 503);
        assert_eq!(ventas_status(&sim, "SUC001", "APP-TPF").await, 200);
        let body = post_json(
            &sim,
            "/maestra/articulos/almacen",
            &json!({"Codigoalmacen": "TTZ"}),
        )
        .await;
        assert_eq!(body["error"], "boom");

        // Invalid lists are refused and change nothing.
        for bad in [
            json!([{"fault": {"kind": "status", "code": 200}}]),
            json!([{"fault": {"kind": "nope"}}]),
            json!({"fault": {"kind": "hang"}}),
        ] {
            let response = http.put(&url).json(&bad).send().await.unwrap();
            assert_eq!(response.status(), 400, "{bad}");
        }
        assert_eq!(sim.faults().len(), 2);

        let response = http.delete(&url).send().await.unwrap();
        assert_eq!(response.status(), 204);
        let listed: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed, json!([]));
        let body = post_json(
            &sim,
            "/maestra/articulos/almacen",
            &json!({"Codigoalmacen": "TTZ"}),
        )
        .await;
        assert!(body["articulos"].is_array());
        // Admin requests are not counted.
        let stats: Value = http
            .get(format!("{}/__admin/stats", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["requests"], 4);
        assert_eq!(sim.requests(), 4);
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faults_from_a_toml_file() {
        let dir = std::env::temp_dir().join(format!("klk-sim-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("faults.toml");
        std::fs::write(
            &path,
            r#"
seed = 5
lines_per_day = [100, 200]
fixed_clock = "2025-11-18T13:45:09.488Z"

[[closed]]
branch = "*"
date = "2025-01-01"

[[faults]]
branch = "SUC013"
endpoint = "ventas"
times = 1
fault = { kind = "status", code = 503 }
"#,
        )
        .unwrap();
        let config = KlkSimConfig::from_file(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(config.seed, 5);
        let sim = start(config).await;
        assert_eq!(ventas_status(&sim, "SUC013", "TCTO").await, 503);
        assert_eq!(ventas_status(&sim, "SUC013", "TCTO").await, 200);
        let body = post_json(
            &sim,
            "/ventas",
            &day_request("SUC013", "TCTO", "2025-01-01"),
        )
        .await;
        assert_eq!(body["ventas"], json!([]));
        sim.shutdown().await;
        assert!(KlkSimConfig::from_file(std::path::Path::new("/nonexistent/klk.toml")).is_err());
    }

    /// Fetches one store-day over HTTP; returns (rows, bytes, seconds). Checks that the body holds as
    /// many line objects as `total_registros` says.
    async fn fetch_day(sim: &KlkSim, http: &reqwest::Client, day: &str) -> (usize, usize, f64) {
        let started = Instant::now();
        let response = http
            .post(format!("{}/ventas", sim.base_url()))
            .json(&day_request("SUC015", "TGUAC", day))
            .send()
            .await
            .unwrap();
        let mut stream = response.bytes_stream();
        let mut chunks = Vec::new();
        while let Some(chunk) = stream.next().await {
            chunks.push(chunk.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        // Counted after the clock stops: every line object starts with this key, nothing else does.
        let body = chunks.concat();
        let objects = body
            .windows(17)
            .filter(|w| *w == b"{\"numero_factura\"")
            .count();
        let head = String::from_utf8_lossy(&body[..1024]);
        let total: usize = head
            .split("\"total_registros\":")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(objects, total);
        (total, body.len(), elapsed)
    }

    /// Streams full default-size store-days to a reqwest client in the same process and reports the
    /// serve rate (best of several runs; the machine is shared). Run it in release to read the figure:
    /// `cargo test --release -p fluxion-etl-sim --test klk serve_rate -- --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_rate_of_full_store_days() {
        let sim = start(KlkSimConfig {
            fixed_clock: Some(clock()),
            ..KlkSimConfig::default()
        })
        .await;
        let http = client();
        let rate = |(rows, bytes, secs): (usize, usize, f64)| {
            format!(
                "{rows} rows, {:.1} MB in {:.1} ms = {:.0} rows/s, {:.0} MB/s",
                bytes as f64 / 1e6,
                secs * 1e3,
                rows as f64 / secs,
                bytes as f64 / 1e6 / secs
            )
        };
        let best = |runs: Vec<(usize, usize, f64)>| {
            runs.into_iter()
                .min_by(|a, b| (a.2 / a.0 as f64).total_cmp(&(b.2 / b.0 as f64)))
                .unwrap()
        };
        // Days seen for the first time: generated and encoded while streaming.
        let mut fresh = Vec::new();
        for day in ["2025-11-10", "2025-11-11", "2025-11-12"] {
            fresh.push(fetch_day(&sim, &http, day).await);
        }
        // A repeated day: encoded once, then sent as slices of the cached buffer.
        let mut repeated = Vec::new();
        for _ in 0..5 {
            repeated.push(fetch_day(&sim, &http, "2025-11-17").await);
        }
        eprintln!(
            "KLK simulator serve rate (best run, reqwest client in-process):\n  first request of a day: {}\n  repeated day (cached JSON): {}",
            rate(best(fresh)),
            rate(best(repeated.split_off(2)))
        );
        sim.shutdown().await;
    }
}
