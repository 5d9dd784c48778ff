select * from (select shop_id, sum(amount) as total from {{ ref('stg_sales') }} group by shop_id) as t
