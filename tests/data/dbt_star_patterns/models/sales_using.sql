select * from {{ ref('stg_sales') }} as s join (select ID as shop_id, "Shop Name", cityCode from {{ ref('stg_shops') }}) as h using (shop_id)
