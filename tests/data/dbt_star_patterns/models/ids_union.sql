select id, amount from {{ ref('stg_sales') }}
union all
select ID, 0 from {{ ref('stg_shops') }}
